// Cold start in a fresh process: loads a module (the serialized processor, whose `handler` export runs
// its factory on load, or a module that only constructs the same SDK clients) and prints the
// milliseconds since this process started. Node's own start-up is in both, so their ratio is what the
// processor adds. Plain JavaScript, so no TypeScript loader is in the measurement.
const path = require("path");
const { performance } = require("perf_hooks");

require(path.resolve(process.argv[2]));
process.stdout.write(`${performance.now()}\n`);
