/** Jest: TypeScript through @swc/jest; tests under tests/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
    // jose (v6) ships only ES modules: compile it to CommonJS like our sources.
    '^.+/node_modules/jose/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  testTimeout: 30000,
  maxWorkers: 2,
  // sidecar/paths.ts locates repo files with import.meta, which CommonJS (what
  // swc emits for jest) cannot parse; tests get the same paths from __dirname.
  moduleNameMapper: { "^(\\.{1,2}/)*(.*/)?paths\\.ts$": "<rootDir>/tests/support/paths.cjs" },
};
