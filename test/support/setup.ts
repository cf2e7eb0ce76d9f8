/**
 * Loaded by mocha before any test file (.mocharc*.json `require`).
 *
 * The AWS SDK warns once per process on Node < 22 that its releases after January 2027 will need
 * Node 22. The README states the supported Node versions; repeating that in the middle of a test run
 * hides real warnings, so the tests (and the child processes they start, which inherit this
 * environment) switch it off with the SDK's own setting. The Lambda runs Node 22 or 24, where the
 * SDK never warns, so production output is unaffected.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
