// CommonJS stand-in for sidecar/paths.ts under jest (see jest.config.cjs).
const path = require('node:path');
const repoRoot = path.resolve(__dirname, '..', '..');
const fixtures = () => process.env.THEMIS_FIXTURES ?? path.join(repoRoot, '..', 'shared', 'fixtures');
module.exports = { repoRoot, fromRepo: (...p) => path.join(repoRoot, ...p), fromFixtures: (...p) => path.join(fixtures(), ...p) };
