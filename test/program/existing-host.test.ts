/**
 * The real index.ts configured for an existing server (`host` set): no AWS resource at all, every
 * step connects to the configured host, user and port (with the pinned host key), and the steps
 * exist under their documented names in dependency order — checked twice: by the order in which
 * the mock monitor received the registrations (the SDK registers a resource only after everything
 * it depends on is registered) and by the dependency URNs each RegisterResource request carries.
 * Also: each step's command string is exactly stepCommand(rendered step script) — the file
 * `npm run render` writes under the same resource name.
 */
import * as yaml from "js-yaml";
import { parseConfig } from "../../components/config";
import { stepPlan } from "../../components/plan";
import { StepValues, renderStepScript, stepCommand } from "../../components/host-files";
import { HOST_WAIT_DIAL_LIMIT } from "../../components/remote-step";
import { renderTree } from "../../scripts/render";
import {
  ConfigInput,
  DOCUMENTED_STEPS,
  EXISTING_HOST,
  FAKE_WAIT_HOST_KEY,
  ProgramRun,
  existingHostConfig,
  isWrappedSecret,
  runProgram,
} from "./harness";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTestsOnlyxxxxxxxxxxxxxxxxxxxx";

// database: external here: the data-* steps are tested in data-tier.test.ts.
const DOCUMENTED = DOCUMENTED_STEPS.filter((n) => !n.startsWith("data-"));

/** Settings of a run's configuration, as the program validated them. */
function settingsOf(cfg: ConfigInput) {
  const raw = Object.fromEntries(
    Object.entries(cfg.values)
      .filter(([k]) => k.startsWith("django-deploy:"))
      .map(([k, v]) => [k.slice("django-deploy:".length), v]),
  );
  return parseConfig(raw, new Set(cfg.secretKeys.map((k) => k.slice("django-deploy:".length)))).settings;
}

/**
 * Which steps each step of the plan waits for: the steps it runs after, plus the steps whose
 * printed values it reads or triggers on (the checkout's commit and requirements hash).
 */
function waitsFor(cfg: ConfigInput): Record<string, string[]> {
  const settings = settingsOf(cfg);
  const plan = stepPlan(settings);
  const producer = (v: string) => plan.filter((st) => st.produces.some((x) => x === v)).map((st) => st.name);
  // Under trust on first use, every connection but host-wait's reads the key host-wait printed.
  const tofu = settings.target.kind === "existing" && settings.target.trustOnFirstUse;
  const pinned = (st: { produces: readonly string[] }) => (tofu && !st.produces.includes("hostKey") ? ["hostKey"] : []);
  return Object.fromEntries(
    plan.map((st) => [st.name, [...new Set([...st.after, ...[...st.reads, ...st.triggers, ...pinned(st)].flatMap(producer)])].sort()]),
  );
}

let withKey: ProgramRun;
let withoutKey: ProgramRun;
let withKeyConfig: ConfigInput;
let withoutKeyConfig: ConfigInput;

beforeAll(async () => {
  withKeyConfig = existingHostConfig({ sshHostKey: HOST_KEY });
  // Without sshHostKey an existing server needs the trust-on-first-use opt-in.
  withoutKeyConfig = existingHostConfig({ sshHostKey: undefined, sshTrustOnFirstUse: true }, { deployKey: false });
  withKey = await runProgram(withKeyConfig);
  withoutKey = await runProgram(withoutKeyConfig);
});

describe("existing host", () => {
  test("the program ran without error", () => {
    expect(withKey.error).toBeUndefined();
    expect(withoutKey.error).toBeUndefined();
  });

  test("no AWS resource, provider or invoke at all", () => {
    for (const run of [withKey, withoutKey]) {
      expect(run.registrations.filter((r) => /^aws:|^pulumi:providers:aws$/.test(r.type))).toEqual([]);
      expect(run.registrations.filter((r) => r.type === "django-deploy:host:AwsHost")).toEqual([]);
      expect(run.calls).toEqual([]);
    }
  });

  test("every command connects to the configured host, user and port, checking the configured host key", () => {
    for (const c of withKey.commands()) {
      expect(isWrappedSecret(c.wire.connection)).toBe(true);
      expect(c.inputs.connection.value).toMatchObject({
        host: EXISTING_HOST.host,
        user: EXISTING_HOST.hostUser,
        port: EXISTING_HOST.sshPort,
        hostKey: HOST_KEY,
      });
      // Only the fields remote-step.ts sets (an unexpected field can make pulumi-command print it).
      expect(Object.keys(c.inputs.connection.value).sort()).toEqual([
        "dialErrorLimit",
        "host",
        "hostKey",
        "perDialTimeout",
        "port",
        "privateKey",
        "user",
      ]);
    }
  });

  test("trust on first use: host-wait alone connects unchecked; every later step pins the key host-wait printed", () => {
    for (const c of withoutKey.commands()) {
      if (c.name === "host-wait") expect(c.inputs.connection.value).not.toHaveProperty("hostKey");
      else expect([c.name, c.inputs.connection.value.hostKey]).toEqual([c.name, FAKE_WAIT_HOST_KEY]);
    }
    expect(withoutKey.exports.hostKey).toEqual({ value: FAKE_WAIT_HOST_KEY, secret: false });
    expect(withKey.exports.hostKey).toEqual({ value: HOST_KEY, secret: false });
  });

  test("the steps exist under their documented names (code-deploy-key only with repoDeployKey)", () => {
    expect(
      withKey
        .commands()
        .map((c) => c.name)
        .sort(),
    ).toEqual([...DOCUMENTED].sort());
    expect(
      withoutKey
        .commands()
        .map((c) => c.name)
        .sort(),
    ).toEqual(DOCUMENTED.filter((n) => n !== "code-deploy-key").sort());
    // Each step is a child of its component.
    const parentName = (run: ProgramRun, urn: string) => run.registrations.find((r) => r.urn === urn)?.name;
    for (const c of withKey.commands()) expect(parentName(withKey, c.options.parent)).toBe(c.name.split("-")[0]);
  });

  test("dependencies: each step's request names exactly the steps it must wait for", () => {
    const urnOf = (run: ProgramRun) => (name: string) => run.byName(name).urn;
    const commandDeps = (run: ProgramRun, name: string) => {
      const commandUrns = new Set(run.commands().map((c) => c.urn));
      return run
        .byName(name)
        .options.dependencies.filter((u) => commandUrns.has(u))
        .sort();
    };
    for (const [run, cfg] of [
      [withKey, withKeyConfig],
      [withoutKey, withoutKeyConfig],
    ] as const) {
      const after = waitsFor(cfg);
      expect(
        run
          .commands()
          .map((c) => c.name)
          .sort(),
      ).toEqual(Object.keys(after).sort());
      for (const [name, before] of Object.entries(after)) {
        expect([name, commandDeps(run, name)]).toEqual([name, before.map(urnOf(run)).sort()]);
      }
    }
    // The deploy key comes before the checkout that needs it.
    expect(waitsFor(withKeyConfig)["code-checkout"]).toContain("code-deploy-key");
  });

  test("order: every step is registered after everything it waits for (checkout after layout, …)", () => {
    for (const [run, cfg] of [
      [withKey, withKeyConfig],
      [withoutKey, withoutKeyConfig],
    ] as const) {
      const seq = (name: string) => run.byName(name).seq;
      const after = waitsFor(cfg);
      for (const c of run.commands()) {
        for (const before of after[c.name]) {
          expect({ step: c.name, waitsFor: before, registeredAfter: c.seq > seq(before) }).toEqual({
            step: c.name,
            waitsFor: before,
            registeredAfter: true,
          });
        }
      }
      expect(seq("code-checkout")).toBeGreaterThan(seq("host-layout"));
      expect(seq("web-nginx-site")).toBe(Math.max(...run.commands().map((c) => c.seq)));
    }
    // The documented order is one valid order of these dependencies.
    for (const [name, after] of Object.entries(waitsFor(withKeyConfig))) {
      for (const before of after) expect(DOCUMENTED.indexOf(before)).toBeLessThan(DOCUMENTED.indexOf(name));
    }
  });

  test("only host-wait keeps dialing (a booting host); the others give up after pulumi-command's default", () => {
    for (const c of withKey.commands()) {
      const expected =
        c.name === "host-wait" ? { dialErrorLimit: HOST_WAIT_DIAL_LIMIT, perDialTimeout: 30 } : { dialErrorLimit: 10, perDialTimeout: 15 };
      expect([c.name, c.inputs.connection.value]).toEqual([c.name, expect.objectContaining(expected)]);
    }
  });

  test("each command string is stepCommand(the step script npm run render writes under the same name, with the values the run printed)", () => {
    const settings = settingsOf(withKeyConfig);
    const tree = renderTree(settings);
    const scripts = Object.keys(tree).filter((f) => f.startsWith("steps/"));
    expect(scripts.map((f) => f.replace(/^steps\/|\.sh$/g, "")).sort()).toEqual(
      withKey
        .commands()
        .map((c) => c.name)
        .sort(),
    );
    // The values earlier steps printed (the fake checkout's commit, …) replace render's placeholders.
    const printed = Object.assign(
      {},
      ...withKey.commands().map((c) => (c.state.stdout.trim().startsWith("{") ? JSON.parse(c.state.stdout) : {})),
    ) as StepValues;
    for (const step of stepPlan(settings)) {
      const rendered = step.reads.length ? renderStepScript(settings, step, printed) : tree[`steps/${step.name}.sh`];
      expect([step.name, withKey.byName(step.name).inputs.create]).toEqual([step.name, stepCommand(rendered)]);
    }
  });

  test("command strings stay readable in `pulumi preview --diff`: plain, multi-line, valid UTF-8, not JSON or YAML", () => {
    // The CLI prints a line diff for a changed string property only when both values are plain
    // (not secret) strings of valid UTF-8 that contain a newline and do not decode as a JSON or
    // YAML object/array (pkg/backend/display/object_diff.go: printPropertyValueDiff → printTextDiff).
    // js-yaml stands in for the CLI's yaml.v3 decoder here.
    for (const c of withKey.commands()) {
      const create = c.wire.create;
      expect(typeof create).toBe("string");
      expect(create).toContain("\n");
      expect(Buffer.from(create, "utf8").toString("utf8")).toBe(create);
      expect(() => JSON.parse(create)).toThrow();
      let decoded: unknown;
      try {
        decoded = yaml.load(create);
      } catch {
        decoded = undefined;
      }
      expect([c.name, typeof decoded === "object" && decoded !== null]).toEqual([c.name, false]);
    }
  });

  test("outputs name the configured host", () => {
    expect(withKey.exports.publicIp).toEqual({ value: EXISTING_HOST.host, secret: false });
    expect(withKey.exports.sshCommand).toEqual({ value: `ssh -p 2222 deployer@${EXISTING_HOST.host}`, secret: false });
  });
});
