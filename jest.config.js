/** Jest runs every suite: rendering and program tests under mocks, and the real-host tests. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test", "<rootDir>/policy"],
  testMatch: ["**/*.test.ts"],
  // Real-host suites boot a Debian container and provision it over SSH: minutes, not seconds.
  testTimeout: 30000,
  // ts-jest transpiles each file on its own (tsconfig isolatedModules); `npm run build` type-checks.
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
};
