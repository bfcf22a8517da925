/** Tests run against a real Temporal dev server and a real PostgreSQL started once per run. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Checks of the real server's own setup: only in the real-server slice (npm run test:server).
  testPathIgnorePatterns: process.env.TEMPORAL_BACKEND === 'server' ? [] : ['\\.server\\.test\\.ts$'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testSequencer: '<rootDir>/test/support/sequencer.js',
  testTimeout: 60_000,
};
