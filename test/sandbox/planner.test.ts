/**
 * The sandbox's engine decisions (sandbox/planner.ts), without any host or sshd: which operation a
 * registration gets against its saved state, which saved resources a run drops, and what the
 * sandbox refuses to emulate.
 */
import fc from "fast-check";
import { COMMAND, PlanOptions, SavedResource, changedKeys, planCommand, planDeletes, unsupported } from "../../sandbox/planner";

const NO_OPTIONS: PlanOptions = {
  protect: false,
  ignoreChanges: [],
  replaceOnChanges: [],
  deleteBeforeReplace: false,
  retainOnDelete: false,
  unsupported: [],
};
const conn = {
  host: "10.0.0.2",
  port: 22,
  user: "admin",
  privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----",
};
const command = (extra: Record<string, unknown> = {}) => ({ connection: conn, create: "echo hi", addPreviousOutputInEnv: false, ...extra });
const saved = (name: string, inputs: Record<string, unknown>, seq = 1): SavedResource => ({
  type: COMMAND,
  name,
  id: `${name}-id`,
  seq,
  inputs,
  secretPaths: [],
  stdout: "",
  stderr: "",
});

/** JSON values the canonical form can hold (what registrations carry). */
const json = fc.jsonValue() as fc.Arbitrary<unknown>;
const inputsArb = fc.record({
  create: fc.string(),
  stdin: fc.string(),
  triggers: fc.array(json, { maxLength: 3 }),
  logging: fc.constantFrom("none", "stdoutAndStderr"),
});

describe("planCommand", () => {
  test("never created → create", () => {
    expect(planCommand(undefined, command())).toEqual({ op: "create", changed: [] });
  });

  test("same inputs → nothing runs; a triggers change → replace; any other change → update (properties)", () => {
    fc.assert(
      fc.property(inputsArb, inputsArb, (a, b) => {
        const old = saved("x", a);
        expect(planCommand(old, a)).toEqual({ op: "same", changed: [] });
        const { op, changed } = planCommand(old, b);
        const diff = (Object.keys(a) as (keyof typeof a)[]).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
        expect(changed).toEqual(diff.sort());
        expect(op).toBe(diff.length === 0 ? "same" : diff.includes("triggers") ? "replace" : "update");
      }),
      { numRuns: 300 },
    );
  });

  test("changedKeys sees added and removed keys", () => {
    expect(changedKeys({ a: 1, b: 2 }, { a: 1, c: 3 })).toEqual(["b", "c"]);
  });
});

describe("planDeletes", () => {
  test("drops what the run did not register, newest first", () => {
    const state = [saved("a", {}, 1), saved("b", {}, 2), saved("c", {}, 3)];
    expect(planDeletes(state, new Set([`${COMMAND}::a`])).map((r) => r.name)).toEqual(["c", "b"]);
    expect(planDeletes(state, new Set(state.map((r) => `${COMMAND}::${r.name}`)))).toEqual([]);
  });
});

describe("unsupported", () => {
  test("the program's own commands and components pass", () => {
    expect(unsupported(COMMAND, true, command({ stdin: "x", triggers: ["t"], logging: "none" }), NO_OPTIONS)).toEqual([]);
    expect(unsupported("django-deploy:host:HostBase", false, {}, NO_OPTIONS)).toEqual([]);
    // @pulumi/command's own replaceOnChanges for triggers is what planCommand emulates.
    expect(unsupported(COMMAND, true, command(), { ...NO_OPTIONS, replaceOnChanges: ["triggers[*]"] })).toEqual([]);
    expect(unsupported(COMMAND, true, command(), { ...NO_OPTIONS, replaceOnChanges: ["stdin"] })).toEqual([
      "the resource option replaceOnChanges is not emulated",
    ]);
  });

  test.each([
    ["another resource type", "aws:ec2/instance:Instance", {}, NO_OPTIONS, /aws:ec2\/instance:Instance is not emulated/],
    ["an update command", COMMAND, command({ update: "x" }), NO_OPTIONS, /the input update is not emulated/],
    ["no create", COMMAND, { connection: conn, addPreviousOutputInEnv: false }, NO_OPTIONS, /without a `create` string/],
    ["previous output in env", COMMAND, command({ addPreviousOutputInEnv: true }), NO_OPTIONS, /addPreviousOutputInEnv must be false/],
    ["an agent", COMMAND, command({ connection: { ...conn, agentSocketPath: "/x" } }), NO_OPTIONS, /connection field agentSocketPath/],
    ["protect", COMMAND, command(), { ...NO_OPTIONS, protect: true }, /resource option protect/],
    ["a request-level option", COMMAND, command(), { ...NO_OPTIONS, unsupported: ["customTimeouts"] }, /resource option customTimeouts/],
  ] as [string, string, Record<string, unknown>, PlanOptions, RegExp][])(
    "%s is refused with a reason",
    (_label, type, inputs, options, reason) => {
      const why = unsupported(type, true, inputs, options);
      expect(why.join("\n")).toMatch(reason);
    },
  );
});
