// CommonJS stand-in for sidecar/paths.ts under jest (see jest.config.cjs).
const path = require('node:path');
const repoRoot = path.resolve(__dirname, '..', '..');
module.exports = { repoRoot, fromRepo: (...p) => path.join(repoRoot, ...p) };
