#!/usr/bin/env node
// The themis-sidecar command. Runs the TypeScript sources directly on
// Node.js 24 (type stripping); older Node versions are refused with advice.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`themis-sidecar needs Node.js 24 or newer (this is ${process.version}); run ./dev start, which installs it\n`);
  process.exit(1);
}
const { main } = await import('../sidecar/main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`themis-sidecar: internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(70);
  },
);
