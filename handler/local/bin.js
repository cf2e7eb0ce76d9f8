#!/usr/bin/env node
// Entry point of `npm start` and the `facility-pipeline` command: runs the TypeScript sources directly.
const path = require("path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "../../tsconfig.json") });
require("./cli")
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
