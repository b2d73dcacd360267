/**
 * Secrets, with recognizable fake values in sshPrivateKey, repoDeployKey and appEnv: no secret in
 * plain anywhere the engine, the state file or a log could show it. Checked on the wire form of
 * every RegisterResource request (secret markers exactly where the SDK puts them, before the mock
 * monitor's deserialization hoists a nested secret to wrap its whole array or object), on every
 * component's registered outputs, and on every stack output.
 */
import type * as PulumiModule from "@pulumi/pulumi";
import { STEPS } from "../../components/plan";
import {
  MARKERS,
  ProgramRun,
  SECRET_MARKERS,
  SECRET_SIG,
  SIG_KEY,
  containsSecret,
  existingHostConfig,
  isWrappedSecret,
  plainStrings,
  runProgram,
  stackConfig,
} from "./harness";

const RUNS: [string, () => Promise<ProgramRun>, boolean][] = [
  ["dev stack (EC2)", () => runProgram(stackConfig("dev")), false],
  ["existing host", () => runProgram(existingHostConfig()), false],
  ["existing host with a repository token", () => runProgram(existingHostConfig({}, { repoToken: true })), true],
];

/**
 * The steps that read secrets on standard input (the plan says which; the checkout only with
 * repoToken), and those of them whose output stays public: the checkout hands the token to git and
 * prints only the commit and the requirements hash.
 */
const secretStdin = (token: boolean) =>
  STEPS.filter((d) => d.stdin && (d.stdin !== "repoToken" || token))
    .map((d) => d.name)
    .sort();
const PUBLIC_OUTPUT = STEPS.filter((d) => d.publicOutput).map((d) => d.name);

describe.each(RUNS)("%s", (_label, start, token) => {
  const SECRET_STDIN = secretStdin(token);
  let run: ProgramRun;
  beforeAll(async () => {
    run = await start();
    expect(run.error).toBeUndefined();
  });

  test("the fake secrets really reach the program (stdin and connection)", () => {
    expect(run.byName("code-deploy-key").wire.stdin.value).toContain(MARKERS.repoDeployKey);
    const envrc = run.byName("env-server-env").wire.stdin.value as string;
    expect(envrc).toContain(MARKERS.appSecret);
    expect(envrc).toContain(MARKERS.dbPassword);
    expect(envrc).toContain(`export SECRET_KEY='it'\\''s a ${MARKERS.appSecret}'`);
    for (const c of run.commands()) expect(c.wire.connection.value.privateKey).toContain(MARKERS.sshPrivateKey);
    if (token) expect(run.byName("code-checkout").wire.stdin.value).toBe(`${MARKERS.repoToken}\n`);
    else expect(run.byName("code-checkout").wire).not.toHaveProperty("stdin");
  });

  test("no secret in plain in any input of any resource (wire form)", () => {
    const leaks = run.registrations.flatMap((r) =>
      plainStrings(r.wire)
        .filter((s) => containsSecret(s.value))
        .map((s) => `${r.name}.${s.path}`),
    );
    expect(leaks).toEqual([]);
  });

  test("command strings, update/delete and environment: none carries a secret; no remote delete; no previous output in env", () => {
    for (const c of run.commands()) {
      expect(typeof c.wire.create).toBe("string");
      expect([c.name, SECRET_MARKERS.filter((m) => c.wire.create.includes(m))]).toEqual([c.name, []]);
      expect([c.name, "delete" in c.wire, "update" in c.wire, "environment" in c.wire]).toEqual([c.name, false, false, false]);
      expect([c.name, c.wire.addPreviousOutputInEnv]).toEqual([c.name, false]);
    }
  });

  test("steps that take secrets read them from a secret stdin, log nothing and keep their output secret", () => {
    const withStdin = run
      .commands()
      .filter((c) => "stdin" in c.wire)
      .map((c) => c.name)
      .sort();
    // database: external here: the data-* steps (and their stdin) are tested in data-tier.test.ts.
    expect(withStdin).toEqual(SECRET_STDIN.filter((n) => !n.startsWith("data-")));
    for (const name of withStdin) {
      const c = run.byName(name);
      // In mocks a secret input arrives wrapped with the SDK's signature key.
      expect(c.inputs.stdin[SIG_KEY]).toBe(SECRET_SIG);
      expect(c.wire.stdin[SIG_KEY]).toBe(SECRET_SIG);
      if (PUBLIC_OUTPUT.includes(name)) {
        // The secret goes to a process, never to the output (unit tests: code-checkout's script).
        expect([name, c.wire.logging]).toEqual([name, "stdoutAndStderr"]);
        expect(containsSecret(String(c.state.stdout))).toBe(false);
        continue;
      }
      expect(c.wire.logging).toBe("none");
      expect(c.options.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr", "connection"]));
    }
    for (const c of run.commands().filter((c) => !SECRET_STDIN.includes(c.name)))
      expect([c.name, c.wire.logging]).toEqual([c.name, "stdoutAndStderr"]);
  });

  test("the settings fingerprint is secret wherever it goes (every step that triggers on it), and only it", () => {
    const triggered = STEPS.filter((d) => d.triggers?.includes("settingsFingerprint"));
    expect(triggered.map((d) => d.name)).toEqual(expect.arrayContaining(["app-release", "app-switch"]));
    for (const d of STEPS.filter((x) => x.triggers?.length)) {
      const triggers = run.byName(d.name).wire.triggers as unknown[];
      expect([d.name, triggers.map(isWrappedSecret)]).toEqual([d.name, d.triggers!.map((t) => t === "settingsFingerprint")]);
    }
  });

  test("component outputs carry no secret in plain", () => {
    const leaks = Object.entries(run.componentOutputs).flatMap(([urn, outs]) =>
      plainStrings(outs)
        .filter((s) => containsSecret(s.value))
        .map((s) => `${urn} ${s.path}`),
    );
    expect(leaks).toEqual([]);
  });

  test("stack outputs: every export resolved; a value holding a secret must be marked secret (none holds one today)", () => {
    expect(Object.keys(run.exports).sort()).toEqual([
      "backupBucket",
      "backupCommand",
      "deployedCommit",
      "deployedRef",
      "hostAddresses",
      "hostKey",
      "hostKeys",
      "keptReleases",
      "liveCommit",
      "liveCommits",
      "loadBalancerDnsName",
      "mediaBucket",
      "previousCommit",
      "publicIp",
      "restoreCommand",
      "siteUrl",
      "sshCommand",
    ]);
    const leaks = Object.entries(run.exports).filter(([, out]) => containsSecret(JSON.stringify(out.value) ?? "") && !out.secret);
    expect(leaks).toEqual([]);
    // No export derives from a secret, so none is marked secret (`pulumi stack output` shows them in clear).
    expect(Object.values(run.exports).map((out) => out.secret)).toEqual(Object.keys(run.exports).map(() => false));
  });
});

describe("loadConfig hands out the secrets as secret Outputs (not pulumi-command's own marking)", () => {
  test.each(["sshPrivateKey", "repoDeployKey", "repoToken", "appEnv"] as const)("%s", async (key) => {
    const cfg = stackConfig("dev", {}, { repoToken: true });
    let secret: boolean | undefined;
    let value: unknown;
    await jest.isolateModulesAsync(async () => {
      const pulumi = await import("@pulumi/pulumi");
      await pulumi.runtime.setMocks(
        { newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs },
        "django-deploy",
        "dev",
        false,
      );
      pulumi.runtime.setAllConfig(cfg.values, cfg.secretKeys);
      const { loadConfig } = await import("../../components/config");
      const out = loadConfig().secrets[key] as PulumiModule.Output<unknown>;
      secret = await pulumi.isSecret(out);
      value = await new Promise((resolve) => out.apply(resolve));
    });
    expect(secret).toBe(true);
    expect(JSON.stringify(value)).toMatch(new RegExp(SECRET_MARKERS.join("|")));
  });
});
