/**
 * The order in which jest starts the test files: the longest first. Four run at once (npm test), so
 * a long suite started last sets the end of the run; jest's own order needs timings cached by an
 * earlier run, and a clean clone (CI) has none, so it falls back to file size, which put the 7-minute
 * CLI suite last. Seconds: a clean-clone run on 2026-12-02 in this order (20.7 min in all). Only the
 * order depends on these; a suite missing here starts after them.
 */
const path = require("path");
const Sequencer = require("@jest/test-sequencer").default;

const SECONDS = {
  "test/host/releases.test.ts": 1100,
  "test/host/deploy.test.ts": 820,
  "test/host/scale.test.ts": 620,
  "test/host/hardening.test.ts": 530,
  "test/host/data.test.ts": 310,
  "test/sandbox/cli.test.ts": 260,
  "test/unit/injection.test.ts": 190,
  "test/host/isolation.test.ts": 180,
  "test/unit/render.test.ts": 130,
  "test/sandbox/runner.test.ts": 130,
  "test/host/infra.test.ts": 100,
  "test/host/testhost.test.ts": 50,
  "policy/pack.test.ts": 35,
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
