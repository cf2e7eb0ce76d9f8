#!/usr/bin/env node
// Entry point of `npm start` and the `facility-pipeline` command: runs the TypeScript sources directly.
// Sucrase strips the types as modules load; it is a fraction of the TypeScript compiler's size, and
// the CLI's memory is part of what it promises (types are checked by `npm test`, not here).
require("sucrase/register/ts");
require("./cli")
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
