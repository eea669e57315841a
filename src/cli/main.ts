import { run } from './run.js';

// The one place that sets the exit status: everything else returns codes or throws typed errors.
// Output goes through plain writes (src/render/output.ts), which also handle a reader that goes away.
void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
