#!/usr/bin/env node
// The themis-sidecar command. Runs the TypeScript sources directly on
// Node.js 24 (type stripping); older Node versions are refused with advice.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`themis-sidecar needs Node.js 24 or newer (this is ${process.version}); run ./dev start, which installs it\n`);
  process.exit(1);
}
// Node's on-disk compile cache (under the OS temp dir unless
// NODE_COMPILE_CACHE says otherwise) saves most of the ~1 s of module
// loading on every later start.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import('../sidecar/main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`themis-sidecar: internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(70);
  },
);
