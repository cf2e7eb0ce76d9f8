// Type-aware lint (`npm run lint`, part of `npm test`). The type-checked rules read tsconfig.json through the
// project service, so every linted .ts file must be in its `include`.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    // Generated or downloaded output, never edited by hand.
    ignores: ["node_modules/", "bin/", "test/.serialized/", "bench/data/", "bench/out/", ".pipeline/", ".cache/", "tmp/", "docs/"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
    },
  },
  {
    // The two plain CommonJS entry points (handler/local/bin.js, bench/coldstart-child.js) are outside
    // tsconfig.json, so they get the untyped rules only.
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", __dirname: "readonly", process: "readonly", console: "readonly" },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // The benchmarks' stand-in stores and engines implement async interfaces with nothing to wait for.
    files: ["bench/**/*.ts"],
    rules: { "@typescript-eslint/require-await": "off" },
  },
  {
    files: ["eslint.config.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
