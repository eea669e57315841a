import { run } from './run.js';

// A reader that goes away (`vfioctl list | head`) is not an error: stop quietly, as other CLI tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

// The one place that sets the exit status: everything else returns codes or throws typed errors.
void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
