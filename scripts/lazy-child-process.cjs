// child_process for commander, loaded on first use: commander requires it at start-up for external
// subcommands, which vfioctl does not have, and loading it is a cost in every run (bench/results.md, History).
let real;
module.exports = new Proxy(
  {},
  {
    get(_target, key) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS shim by design
      real ??= require('node:child_process');
      return real[key];
    },
  },
);
