import { run } from './run.js';

// The one place that exits: everything else returns codes or throws typed errors.
const code = await run(process.argv.slice(2));
process.exitCode = code;
