/**
 * The sandbox runner against a real (private, local) sshd, with the fixture program in
 * fixtures/program. The sshd runs on this machine, so the files the remote commands write are read
 * back directly. The runner's decisions alone are tested without sshd in planner.test.ts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { apply, ApplyResult, destroy, preview, StackRun, StepEvent } from "../../sandbox/runner";
import { runCommand } from "../../sandbox/ssh";
import { startSshd, Sshd } from "./sshd";

jest.setTimeout(120_000);
const FIXTURE = path.join(__dirname, "fixtures/program/index.ts");
const SECRET = "s3cr3t-Value-42";

interface Cmd {
  name: string;
  create?: string;
  stdin?: string;
  triggers?: unknown[];
  logging?: string;
  dependsOn?: string[];
  after?: string;
  export?: boolean;
  extra?: Record<string, unknown>;
  opts?: Record<string, unknown>;
}

let sshd: Sshd;
const workDirs: string[] = [];
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
  for (const d of workDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh working dir (state, log, and the files the commands write) and a run builder for it. */
function stack() {
  const w = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-test-"));
  workDirs.push(w);
  const read = (n: string) => (fs.existsSync(path.join(w, n)) ? fs.readFileSync(path.join(w, n), "utf8") : "");
  const run = (commands: Cmd[], extra: { cfg?: Record<string, string> } & Partial<StackRun> = {}): StackRun => {
    const { cfg, ...rest } = extra;
    return {
      project: "fixture",
      stack: "test",
      programPath: FIXTURE,
      statePath: path.join(w, "state.json"),
      logPath: path.join(w, "log"),
      secretKeys: ["fixture:privateKey", "fixture:secret"],
      config: {
        "fixture:port": String(sshd.port),
        "fixture:privateKey": sshd.privateKey,
        "fixture:secret": SECRET,
        "fixture:commands": JSON.stringify(commands),
        ...cfg,
      },
      ...rest,
    };
  };
  const resources = (): Array<{ name: string; id: string; seq: number; inputs: Record<string, unknown>; secretPaths: string[] }> =>
    (JSON.parse(read("state.json") || '{"resources":[]}') as { resources: [] }).resources;
  return { w, read, run, resources };
}
const ops = (r: ApplyResult) => r.executed.map((e) => `${e.op} ${e.name}${e.ok ? "" : " FAILED"}`);

test("creates once; an unchanged re-apply runs no command", async () => {
  const s = stack();
  const cmds = [{ name: "a", create: `echo a >> ${s.w}/order; echo out-a`, export: true }];
  const first = await apply(s.run(cmds));
  expect(first.error).toBeUndefined();
  expect(ops(first)).toEqual(["create a"]);
  expect(first.outputs.stdouts).toEqual({ a: "out-a" });
  const second = await apply(s.run(cmds));
  expect(second.error).toBeUndefined();
  expect(second.executed).toEqual([]);
  expect(s.read("order")).toBe("a\n");
});

test("waits for late and unexported registrations; dependsOn orders the steps; progress is reported as it happens", async () => {
  const s = stack();
  const events: StepEvent[] = [];
  const r = await apply(
    s.run([
      { name: "a", create: `sleep 1; echo a >> ${s.w}/order` },
      { name: "b", create: `echo b >> ${s.w}/order`, dependsOn: ["a"] },
      { name: "c", after: "a", create: `sleep 1; echo c >> ${s.w}/order` },
    ]),
    { onStep: (e) => events.push(e) },
  );
  expect(r.error).toBeUndefined();
  expect(ops(r).sort()).toEqual(["create a", "create b", "create c"]);
  const order = s.read("order").split("\n");
  expect(order[0]).toBe("a");
  expect(order.sort()).toEqual(["", "a", "b", "c"]);
  // Each step: a start, then a finish with its time; a starts and finishes before b starts.
  expect(
    events
      .filter((e) => e.phase === "start")
      .map((e) => e.name)
      .sort(),
  ).toEqual(["a", "b", "c"]);
  const at = (phase: string, name: string) => events.findIndex((e) => e.phase === phase && e.name === name);
  expect(at("finish", "a")).toBeLessThan(at("start", "b"));
  const finishA = events[at("finish", "a")];
  expect(finishA).toMatchObject({ phase: "finish", name: "a", op: "create", ok: true });
  expect(finishA.phase === "finish" && finishA.ms).toBeGreaterThanOrEqual(900);
});

test("an input change updates (create runs again, same id); a triggers change replaces (new id)", async () => {
  const s = stack();
  const v = (stdin: string, n: number) => [{ name: "a", create: `cat >> ${s.w}/order`, stdin: `${stdin}\n`, triggers: [n] }];
  expect((await apply(s.run(v("one", 1)))).error).toBeUndefined();
  const id1 = s.resources()[0].id;
  const updated = await apply(s.run(v("two", 1)));
  expect(ops(updated)).toEqual(["update a"]);
  expect(s.resources()[0].id).toBe(id1);
  const replaced = await apply(s.run(v("two", 2)));
  expect(ops(replaced)).toEqual(["replace a"]);
  expect(s.resources()[0].id).not.toBe(id1);
  expect(s.read("order")).toBe("one\ntwo\ntwo\n");
  // `replace` (pulumi up --replace) re-runs a resource without a change.
  const forced = await apply(s.run(v("two", 2), { replace: ["a"] }));
  expect(ops(forced)).toEqual(["replace a"]);
  expect(s.read("order")).toBe("one\ntwo\ntwo\ntwo\n");
});

test("a secret fed on stdin is delivered, and is in neither the log nor a failing command's error", async () => {
  const s = stack();
  const r = await apply(
    s.run([
      { name: "ok", create: `tee ${s.w}/got; echo to-stderr >&2`, stdin: "{{secret}}", logging: "stderr" },
      { name: "bad", create: "cat >/dev/null; echo failing-output; exit 3", stdin: "{{secret}}", dependsOn: ["ok"] },
    ]),
  );
  expect(s.read("got")).toBe(SECRET);
  expect(r.error).toContain('Process exited with status 3: running "cat >/dev/null; echo failing-output; exit 3":\nfailing-output');
  expect(r.error).not.toContain(SECRET);
  expect(s.read("log")).toContain("failing-output");
  expect(s.read("log")).toContain("command:remote:Command (ok): to-stderr");
  expect(s.read("log")).not.toContain(SECRET);
  expect(r.outputs.secretValue).toEqual({ secret: true, value: SECRET });
  expect(s.resources().find((e) => e.name === "ok")?.secretPaths).toEqual(expect.arrayContaining(["stdin", "connection"]));
});

test("pitfalls: a secret in the command string leaks into the error and log; logged stdout leaks too", async () => {
  const s = stack();
  const r = await apply(
    s.run([
      { name: "echoes", create: "cat", stdin: "{{secret}}" },
      { name: "inline", create: "echo token={{secret}} >/dev/null; exit 1", dependsOn: ["echoes"] },
    ]),
  );
  expect(r.error).toContain(`running "echo token=${SECRET} >/dev/null; exit 1"`);
  expect(s.read("log")).toContain(`command:remote:Command (echoes): ${SECRET}`);
  expect(s.read("log")).toContain(`token=${SECRET}`);
});

test("a failed create is not saved and runs again; dependents and later steps do not run", async () => {
  const s = stack();
  const cmds = [
    { name: "a", create: `test -f ${s.w}/ready || { echo not-ready; exit 1; }; echo a >> ${s.w}/order` },
    { name: "b", create: `echo b >> ${s.w}/order`, dependsOn: ["a"] },
    { name: "x", create: "sleep 1" },
    { name: "late", after: "x", create: `echo late >> ${s.w}/order` }, // registered after a failed
  ];
  const first = await apply(s.run(cmds));
  expect(first.error).toContain("not-ready");
  expect(ops(first).sort()).toEqual(["create a FAILED", "create x"]);
  expect(s.resources().map((e) => e.name)).toEqual(["x"]);
  fs.writeFileSync(path.join(s.w, "ready"), "");
  const second = await apply(s.run(cmds));
  expect(second.error).toBeUndefined();
  expect(ops(second).sort()).toEqual(["create a", "create b", "create late"]);
  expect(s.read("order").split("\n").sort()).toEqual(["", "a", "b", "late"]);
});

test("a failed update keeps the previous state: re-applying the old inputs runs nothing (the engine's behaviour)", async () => {
  const s = stack();
  const v = (n: number, fail: boolean) => [{ name: "a", create: `echo v${n} >> ${s.w}/order${fail ? "; exit 1" : ""}`, triggers: [n] }];
  expect((await apply(s.run(v(1, false)))).error).toBeUndefined();
  const failed = await apply(s.run(v(2, true)));
  expect(ops(failed)).toEqual(["replace a FAILED"]);
  expect(s.resources()[0].inputs.triggers).toEqual([1]);
  const back = await apply(s.run(v(1, false)));
  expect(back.executed).toEqual([]); // exactly why a step must leave the host as its old state says when it fails
  expect(s.read("order")).toBe("v1\nv2\n");
});

test("additionalSecretOutputs marks outputs secret", async () => {
  const s = stack();
  const r = await apply(s.run([{ name: "b", create: "echo b-out", export: true, opts: { additionalSecretOutputs: ["stdout"] } }]));
  expect(r.error).toBeUndefined();
  expect(r.outputs.stdouts).toEqual({ b: { secret: true, value: "b-out" } });
});

const chain = (w: string): Cmd[] =>
  ["a", "b", "c"].map((n, i) => ({ name: n, create: `echo create-${n} >> ${w}/order`, dependsOn: i ? [["a", "b"][i - 1]] : [] }));

test("resources removed from the program are dropped; destroy empties the state; neither connects to the host", async () => {
  const s = stack();
  expect((await apply(s.run(chain(s.w)))).error).toBeUndefined();
  const fewer = await apply(s.run(chain(s.w).slice(0, 1)));
  expect(fewer.error).toBeUndefined();
  expect(fewer.executed).toEqual([]);
  expect(s.resources().map((e) => e.name)).toEqual(["a"]);
  // The host is gone: a destroy still completes.
  const gone = await destroy(s.run(chain(s.w), { cfg: { "fixture:port": "1", "fixture:dialErrorLimit": "1" } }));
  expect(gone.error).toBeUndefined();
  expect(gone.executed).toEqual([]);
  expect(s.resources()).toEqual([]);
  expect(s.read("order")).toBe("create-a\ncreate-b\ncreate-c\n");
});

test("a connection cut mid-command (after a time, or at a printed marker) leaves the resource uncreated; the next apply converges", async () => {
  const s = stack();
  const cmds = [{ name: "slow", create: `echo started; sleep 2; echo done >> ${s.w}/order` }];
  const cut = await apply(s.run(cmds, { fault: { cutResource: "slow", afterMs: 300 } }));
  expect(cut.error).toContain("remote command exited without exit status");
  expect(ops(cut)).toEqual(["create slow FAILED"]);
  expect(s.resources()).toEqual([]);
  const atMarker = await apply(s.run(cmds, { fault: { cutResource: "slow", onOutput: "started" } }));
  expect(ops(atMarker)).toEqual(["create slow FAILED"]);
  expect(s.resources()).toEqual([]);
  const next = await apply(s.run(cmds));
  expect(next.error).toBeUndefined();
  expect(ops(next)).toEqual(["create slow"]);
  expect(s.resources().map((e) => e.name)).toEqual(["slow"]);
});

test("preview runs nothing and reports the steps", async () => {
  const s = stack();
  expect((await apply(s.run(chain(s.w).slice(0, 2)))).error).toBeUndefined();
  // `late` hangs off c's stdout, which is unknown in a preview (c is to be created): it is not registered.
  const p = await preview(
    s.run([{ ...chain(s.w)[0], create: "echo changed" }, chain(s.w)[2], { name: "late", after: "c", create: "true" }]),
  );
  expect(p.steps).toEqual(
    expect.arrayContaining([
      { name: "a", type: "command:remote:Command", op: "update", diffKeys: ["create"] },
      { name: "c", type: "command:remote:Command", op: "create", diffKeys: [] },
      { name: "b", type: "command:remote:Command", op: "delete", diffKeys: [] },
    ]),
  );
  expect(p.steps).toHaveLength(3);
  expect(s.read("order")).toBe("create-a\ncreate-b\n");
});

test("hostKey, when set, is verified", async () => {
  const s = stack();
  const wrong = `ssh-ed25519 ${fs.readFileSync(path.join(sshd.dir, "client_key.pub"), "utf8").split(" ")[1]}`;
  const cmds = [{ name: "a", create: `echo a >> ${s.w}/order` }];
  const bad = await apply(s.run(cmds, { cfg: { "fixture:hostKey": wrong, "fixture:dialErrorLimit": "0" } }));
  expect(ops(bad)).toEqual(["create a FAILED"]);
  expect(s.read("order")).toBe("");
  const good = await apply(s.run(cmds, { cfg: { "fixture:hostKey": sshd.hostKey } }));
  expect(ops(good)).toEqual(["create a"]);
});

test("a quick command's whole answer in one chunk with the exec's confirmation still gives its exit status", async () => {
  // Block the event loop for 300 ms right after the exec request goes out (ssh2's Protocol#exec,
  // its only hook): the confirmation, the output, the exit status, EOF and close then arrive
  // together, and ssh2 handles them in one go. Until 2026-12-02 the runner attached its "exit"
  // listener a microtask after the exec's callback: the status was lost, and a command that had
  // succeeded failed "without exit status" (seen in CI under load, on steps that answer at once).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- ssh2's internal protocol class
  const Protocol = (require("ssh2/lib/protocol/Protocol.js") as { prototype: { exec(...a: unknown[]): unknown } }).prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the protocol as this below
  const exec = Protocol.exec;
  const spy = jest.spyOn(Protocol, "exec").mockImplementation(function (this: unknown, ...args: unknown[]) {
    const r = exec.apply(this, args);
    const until = Date.now() + 300;
    while (Date.now() < until); // the busy wait that lets every packet of the answer arrive first
    return r;
  });
  try {
    const conn = { host: "127.0.0.1", port: sshd.port, user: "root", privateKey: sshd.privateKey, hostKey: sshd.hostKey };
    const run = (cmd: string) => runCommand(conn, { cmd, logStdout: false, logStderr: false, log: () => undefined });
    for (let i = 0; i < 5; i++) {
      await expect(run("echo quick")).resolves.toEqual({ stdout: "quick", stderr: "" });
      await expect(run("echo failing >&2; exit 3")).rejects.toThrow(
        /^Process exited with status 3: running "echo failing >&2; exit 3":\nfailing/,
      );
    }
    expect(spy).toHaveBeenCalledTimes(10);
  } finally {
    spy.mockRestore();
  }
});

describe("what the sandbox does not emulate fails the run loudly, before anything runs", () => {
  const CASES: [string, Cmd[], Record<string, string>, RegExp][] = [
    ["an update command", [{ name: "a", create: "true", extra: { update: "true" } }], {}, /the input update is not emulated/],
    ["a delete command", [{ name: "a", create: "true", extra: { delete: "true" } }], {}, /the input delete is not emulated/],
    ["environment", [{ name: "a", create: "true", extra: { environment: { X: "1" } } }], {}, /the input environment is not emulated/],
    [
      "previous output in the environment",
      [{ name: "a", create: "true", extra: { addPreviousOutputInEnv: true } }],
      {},
      /addPreviousOutputInEnv must be false/,
    ],
    [
      "retainOnDelete",
      [{ name: "a", create: "true", opts: { retainOnDelete: true } }],
      {},
      /resource option retainOnDelete is not emulated/,
    ],
    [
      "ignoreChanges",
      [{ name: "a", create: "true", opts: { ignoreChanges: ["stdin"] } }],
      {},
      /resource option ignoreChanges is not emulated/,
    ],
    [
      "password authentication",
      [{ name: "a", create: "true" }],
      { "fixture:connectionExtra": JSON.stringify({ password: "x" }) },
      /connection field password is not emulated/,
    ],
  ];
  test.each(CASES)("%s", async (_label, cmds, cfg, message) => {
    const s = stack();
    const marked = cmds.map((c) => ({ ...c, create: `echo ran >> ${s.w}/order` }));
    const r = await apply(s.run(marked, { cfg }));
    expect(r.error).toMatch(message);
    expect(r.executed).toEqual([]);
    expect(s.read("order")).toBe("");
    expect(s.resources()).toEqual([]);
  });
});
