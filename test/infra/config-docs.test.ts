import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { CONFIG_KEYS, parseConfig } from "../../infra/config";
import { stackFileConfig } from "./harness";

const root = path.resolve(__dirname, "../..");

describe("config schema, stack files and README agree", () => {
  const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
    name: string;
    config: Record<string, { type: string; description: string; default: unknown }>;
  };

  it("declares every key of the program in Pulumi.yaml with the same type, default and description", () => {
    expect(Object.keys(project.config)).to.deep.equal(CONFIG_KEYS.map((k) => k.key));
    for (const k of CONFIG_KEYS) {
      expect(project.config[k.key], k.key).to.deep.equal({ type: k.kind, description: k.description, default: k.default });
    }
  });

  it("documents every key in the README config reference with its type, how to set it, default, allowed values and description", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const section = readme.split("\n## Config reference")[1]?.split("\n## ")[0] ?? "";
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    const documented = rows.map((r) => r.split("|")[1].trim().replace(/`/g, ""));
    expect(documented).to.deep.equal(CONFIG_KEYS.map((k) => k.key));
    for (const k of CONFIG_KEYS) {
      const cells = rows[documented.indexOf(k.key)].split("|").map((c) => c.trim());
      // `pulumi config set` stores a value without --type as a string, which Pulumi.yaml's types reject.
      const flag = { string: "", integer: " (`--type int`)", boolean: " (`--type bool`)" }[k.kind];
      expect(cells[2], k.key).to.equal(`${k.kind}${flag}`);
      expect(cells[3], k.key).to.equal(k.default === "" ? "(none)" : `\`${String(k.default)}\``);
      expect(cells[4], k.key).to.equal(k.allowed);
      expect(cells[5], k.key).to.equal(k.description);
    }
  });

  for (const stack of ["dev", "prod"]) {
    it(`Pulumi.${stack}.yaml writes each value in the type Pulumi.yaml declares (the CLI type-checks stack config)`, () => {
      const doc = parse(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
      const yamlType = { string: "string", integer: "number", boolean: "boolean" } as const;
      for (const [key, value] of Object.entries(doc.config)) {
        if (!key.startsWith(`${project.name}:`)) continue;
        const declared = project.config[key.slice(project.name.length + 1)].type as keyof typeof yamlType;
        expect(typeof value, key).to.equal(yamlType[declared]);
        if (declared === "integer") expect(Number.isInteger(value), key).to.equal(true);
      }
    });

    it(`Pulumi.${stack}.yaml sets only known keys, with valid values`, () => {
      const config = stackFileConfig(stack);
      for (const key of Object.keys(config).filter((k) => !k.startsWith("aws:"))) {
        expect(CONFIG_KEYS.map((k) => `${project.name}:${k.key}`)).to.include(key);
      }
      expect(() => parseConfig((k) => config[`${project.name}:${k}`], project.name)).to.not.throw();
    });
  }
});
