/**
 * The order in which jest starts the test files: the longest first. Four run at once (npm test), so
 * a long suite started last sets the end of the run; jest's own order needs timings cached by an
 * earlier run, and a clean clone (CI) has none, so it falls back to file size, which put the 7-minute
 * CLI suite last. Seconds: one clean-clone run on 2026-12-02 (data and isolation estimated: that run
 * failed them early). Only the order depends on these; a suite missing here starts after them.
 */
const path = require("path");
const Sequencer = require("@jest/test-sequencer").default;

const SECONDS = {
  "test/host/deploy.test.ts": 860,
  "test/host/releases.test.ts": 820,
  "test/host/scale.test.ts": 630,
  "test/host/hardening.test.ts": 520,
  "test/sandbox/cli.test.ts": 400,
  "test/host/data.test.ts": 300,
  "test/host/isolation.test.ts": 250,
  "test/sandbox/runner.test.ts": 230,
  "test/unit/render.test.ts": 170,
  "test/host/infra.test.ts": 150,
  "test/unit/injection.test.ts": 85,
  "policy/pack.test.ts": 60,
  "test/host/testhost.test.ts": 55,
};

class LongestFirst extends Sequencer {
  sort(tests) {
    const root = path.resolve(__dirname, "..");
    const seconds = (t) => SECONDS[path.relative(root, t.path).split(path.sep).join("/")] ?? 0;
    // Array.prototype.sort is stable: the rest keep jest's own order.
    return [...super.sort(tests)].sort((a, b) => seconds(b) - seconds(a));
  }
}

module.exports = LongestFirst;
