/**
 * Change isolation: the real index.ts runs twice (dev stack, EC2) with configurations that differ
 * in ONE setting, and the recorded inputs of every resource are diffed. A setting may only change
 * the steps that use it, so a preview shows exactly those and `up` re-runs exactly those.
 *
 * Downstream re-runs flow through `triggers` fed by the checkout's stdout at apply time. The mock
 * gives code-checkout a stdout derived from its inputs — a fake commit (sha1 of its command string)
 * and the requirements hash of the run — so a new repoRef yields a new commit while requirements.txt
 * stays the same, as in a real deploy of a new tag.
 */
import { DEFAULT_REQUIREMENTS, FAKE_SECRETS, ProgramRun, RunOptions, changedPaths, runProgram, stackConfig } from "./harness";
import { createHash } from "crypto";

interface Case {
  change: string;
  /** One setting, unprefixed, as it would be set in the stack file. */
  setting?: Record<string, unknown>;
  run?: RunOptions;
  /** resource name → the input paths that differ; every other resource is unchanged. */
  expected: Record<string, string[]>;
}

const CASES: Case[] = [
  { change: "clientMaxBodySize 100M → 250M", setting: { clientMaxBodySize: "250M" }, expected: { "web-nginx-site": ["create"] } },
  {
    change: "repoRef main → v2.0.0 (same requirements.txt)",
    setting: { repoRef: "v2.0.0" },
    // The new commit is written into the release and switch scripts; env-venv reads only the (unchanged) requirements hash.
    expected: { "code-checkout": ["create"], "app-release": ["create"], "app-switch": ["create"] },
  },
  {
    change: "requirements.txt changes at the same ref",
    run: { requirements: createHash("sha256").update("Django==5.2.1\n").digest("hex") },
    // Only the venv step reads the hash: the release (same commit) and its switch are unchanged.
    expected: { "env-venv": ["create"] },
  },
  {
    change: "one appEnv value",
    setting: { appEnv: { ...FAKE_SECRETS.appEnv, DATABASE_URL: "postgres://app:other-fake-password@db.internal:5432/app" } },
    // The settings reach the host on stdin; their (secret) fingerprint re-runs the release tasks and the switch.
    // (The switch also reads the release step's run id: a run of that step always runs the switch.)
    expected: { "env-server-env": ["stdin"], "app-release": ["triggers[0]"], "app-switch": ["create", "triggers[0]"] },
  },
  { change: "gunicornWorkers unset → 5", setting: { gunicornWorkers: 5 }, expected: { "app-switch": ["create"] } },
  { change: "keepReleases 5 → 3", setting: { keepReleases: 3 }, expected: { "app-switch": ["create"] } },
  { change: "healthCheckPath unset → /healthz", setting: { healthCheckPath: "/healthz" }, expected: { "app-switch": ["create"] } },
  { change: "extraPackages [] → [libpq-dev]", setting: { extraPackages: ["libpq-dev"] }, expected: { "host-packages": ["create"] } },
];

let base: ProgramRun;

beforeAll(async () => {
  base = await runProgram(stackConfig("dev"));
  expect(base.error).toBeUndefined();
});

/** For every resource of either run: the input paths that differ (only resources with differences). */
function diffRuns(a: ProgramRun, b: ProgramRun): Record<string, string[]> {
  const key = (r: { type: string; name: string }) => `${r.type}::${r.name}`;
  const names = new Set([...a.registrations, ...b.registrations].map(key));
  const result: Record<string, string[]> = {};
  for (const k of names) {
    const ra = a.registrations.find((r) => key(r) === k);
    const rb = b.registrations.find((r) => key(r) === k);
    const name = (ra ?? rb)!.name;
    if (!ra || !rb) {
      result[name] = [ra ? "(only in the first run)" : "(only in the second run)"];
      continue;
    }
    const paths = changedPaths(ra.inputs, rb.inputs);
    // Options count too: a changed protect or dependency is a change the engine sees.
    if (JSON.stringify(ra.options) !== JSON.stringify(rb.options)) paths.push("(options)");
    if (paths.length > 0) result[name] = paths;
  }
  return result;
}

describe("change isolation (dev stack): one setting changes only the steps that use it", () => {
  test.each(CASES)("$change", async ({ setting, run, expected }) => {
    const changed = await runProgram(stackConfig("dev", setting ?? {}), run);
    expect(changed.error).toBeUndefined();
    expect(diffRuns(base, changed)).toEqual(expected);
  });

  test("the fake checkout reports a new commit for a new repoRef and the same requirements hash", async () => {
    const changed = await runProgram(stackConfig("dev", { repoRef: "v2.0.0" }));
    const stdout = (run: ProgramRun) => JSON.parse(run.byName("code-checkout").state.stdout);
    expect(stdout(changed).commit).not.toBe(stdout(base).commit);
    expect(stdout(changed).requirementsHash).toBe(stdout(base).requirementsHash);
    expect(stdout(base).requirementsHash).toBe(DEFAULT_REQUIREMENTS);
    expect(changed.byName("env-venv").inputs.create).toEqual(base.byName("env-venv").inputs.create);
    expect(changed.exports.deployedCommit.value).toBe(stdout(changed).commit);
  });

  test("the same configuration twice: nothing differs (a re-apply runs no step)", async () => {
    const again = await runProgram(stackConfig("dev"));
    expect(diffRuns(base, again)).toEqual({});
  });
});
