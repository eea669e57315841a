import { run } from './program.js';

// The one place that sets the exit status: everything else returns codes or throws typed errors.
// Output goes through plain synchronous writes (src/render/output.ts), which also handle a reader that
// goes away, and every command has finished its work when run() settles: exiting at once loses nothing,
// and skips the teardown of the heap `list` grows on a big host (bench/results.md, History).
void run(process.argv.slice(2)).then((code) => process.exit(code));
