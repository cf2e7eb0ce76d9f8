/**
 * `npm run test:runtimes`: the tests that exercise the code Lambda runs (the closure serialized and
 * executed in a fresh process, the processor, the fault table) under each Node major the function and
 * `pulumi up` use, while `npm test` runs on whatever Node the machine has.
 *
 * The binaries come from the npm registry (`node-<platform>-<arch>`, the packages the `node` package
 * itself resolves to) into `.cache/node<major>/`, never into package.json: they would bloat `npm ci`
 * and, as dependencies, the Lambda archive. A binary that cannot be installed (no registry, a platform
 * without such a package) is skipped with a message and exit code 0; a failing test exits 1.
 *
 *   npm run test:runtimes            # every major in RUNTIME_MAJORS
 *   npm run test:runtimes -- 24      # just one
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** The Lambda runtimes the program accepts (infra/config.ts: nodejs22.x, nodejs24.x). */
const RUNTIME_MAJORS = [22, 24] as const;

const root = path.resolve(__dirname, "..");

type Outcome = { major: number; status: "passed" | "failed" | "skipped"; detail: string; seconds?: number };

/** The registry package holding a bare Node binary for this machine, and where its binary lands. */
function platformPackage(): { name: string; binary: string } | undefined {
  const platform = ({ linux: "linux", darwin: "darwin" } as Record<string, string | undefined>)[process.platform];
  const arch = ({ x64: "x64", arm64: "arm64" } as Record<string, string | undefined>)[process.arch];
  if (!platform || !arch) return undefined;
  const name = `node-${platform}-${arch}`;
  return { name, binary: path.join("node_modules", name, "bin", "node") };
}

function versionOf(binary: string): string | undefined {
  const run = spawnSync(binary, ["--version"], { encoding: "utf8" });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/**
 * Installs (or refreshes) the newest release of a major into the cache. An install that fails while a
 * binary of that major is already cached uses the cached one, so an offline re-run still tests.
 */
function install(major: number): { binary: string; version: string } | { reason: string } {
  const pkg = platformPackage();
  if (!pkg) return { reason: `no Node binary package for ${process.platform}-${process.arch} on the npm registry` };
  const prefix = path.join(root, ".cache", `node${major}`);
  fs.mkdirSync(prefix, { recursive: true });
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const run = spawnSync(npm, ["install", "--prefix", prefix, `${pkg.name}@${major}`, "--no-save", "--no-audit", "--no-fund", "--no-package-lock"], {
    encoding: "utf8",
    cwd: prefix,
  });
  const binary = path.join(prefix, pkg.binary);
  const version = fs.existsSync(binary) ? versionOf(binary) : undefined;
  if (version?.startsWith(`v${major}.`)) return { binary, version };
  const why =
    run.status === 0 ? `installed ${pkg.name}@${major} but ${binary} does not run as Node ${major}` : npmFailure(run.stderr || run.stdout || String(run.error));
  return { reason: `could not install ${pkg.name}@${major} from the npm registry: ${why}` };
}

/** npm's first lines that say what went wrong (code, request), without its generic advice. */
function npmFailure(output: string): string {
  const lines = output.split("\n").map((l) => l.replace(/^npm (error|ERR!)\s*/, "").trim());
  const telling = lines.filter((l) => /^(code|errno|request|network|notarget|404)\b/i.test(l) || /ECONN|ETIMEDOUT|ENOTFOUND|E404|ETARGET|EBADPLATFORM/.test(l));
  return (telling.length > 0 ? telling : lines.filter(Boolean)).slice(0, 2).join("; ");
}

function testOn(major: number): Outcome {
  const got = install(major);
  if ("reason" in got) return { major, status: "skipped", detail: got.reason };
  console.log(`\n== Node ${got.version} (${path.relative(root, got.binary)}): serialization, processor and fault tests`);
  const started = Date.now();
  const run = spawnSync(got.binary, [path.join(root, "node_modules/mocha/bin/mocha.js"), "--config", ".mocharc.runtimes.json"], {
    cwd: root,
    stdio: "inherit",
    // The serialization test starts its fresh process with process.execPath: this same binary.
    env: { ...process.env, PATH: `${path.dirname(got.binary)}${path.delimiter}${process.env.PATH ?? ""}` },
  });
  const seconds = (Date.now() - started) / 1000;
  return { major, status: run.status === 0 ? "passed" : "failed", detail: got.version, seconds };
}

function main(): void {
  const wanted = process.argv.slice(2).map(Number);
  const unknown = wanted.filter((m) => !(RUNTIME_MAJORS as readonly number[]).includes(m));
  if (unknown.length > 0) {
    console.error(`test:runtimes: unknown Node major ${unknown.join(", ")}; allowed: ${RUNTIME_MAJORS.join(", ")}`);
    process.exit(2);
  }
  const majors = wanted.length > 0 ? wanted : [...RUNTIME_MAJORS];
  const outcomes = majors.map(testOn);
  console.log("\ntest:runtimes summary");
  for (const o of outcomes) {
    const time = o.seconds === undefined ? "" : ` in ${o.seconds.toFixed(1)} s`;
    console.log(`  Node ${o.major}: ${o.status.toUpperCase()}${time} (${o.detail})`);
  }
  if (outcomes.some((o) => o.status === "skipped")) console.log("  SKIPPED means not tested here, not passed.");
  process.exit(outcomes.some((o) => o.status === "failed") ? 1 : 0);
}

main();
