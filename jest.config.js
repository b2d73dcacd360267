/** Jest runs every suite: rendering and program tests under mocks, and the real-host tests. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test", "<rootDir>/policy"],
  testMatch: ["**/*.test.ts"],
  // Real-host suites boot a Debian container and provision it over SSH: minutes, not seconds.
  // Host tests read files over SSH from hosts that share 2 cores with three more suites (npm test runs four
  // files at once): a test without its own timeout gets two minutes.
  testTimeout: 120000,
  // The longest suites first (a clean clone has no timings for jest's own order).
  testSequencer: "<rootDir>/test/sequencer.js",
  // ts-jest transpiles each file on its own (tsconfig isolatedModules); `npm run build` type-checks.
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
};
