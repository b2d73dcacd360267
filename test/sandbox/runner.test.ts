/**
 * The sandbox runner against a real (private, local) sshd, with the fixture program in fixtures/program.
 * The sshd runs on this machine, so the files the remote commands write are read back directly.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { apply, ApplyResult, destroy, preview, StackRun } from "../../sandbox/runner";
import { startSshd, Sshd } from "./sshd";

jest.setTimeout(120_000);
const REPO = path.resolve(__dirname, "../..");
const FIXTURE = path.join(__dirname, "fixtures/program/index.ts");
const SECRET = "s3cr3t-Value-42";

interface Cmd {
  name: string;
  create?: string;
  update?: string;
  delete?: string;
  stdin?: string;
  triggers?: unknown[];
  logging?: string;
  environment?: Record<string, string>;
  dependsOn?: string[];
  after?: string;
  export?: boolean;
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
  const run = (commands: Cmd[], extra: { copies?: unknown[]; cfg?: Record<string, string> } & Partial<StackRun> = {}): StackRun => {
    const { copies, cfg, ...rest } = extra;
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
        "fixture:copies": JSON.stringify(copies ?? []),
        ...cfg,
      },
      ...rest,
    };
  };
  const resources = (): Array<{ name: string; inputs: Record<string, any>; secretPaths: string[] }> =>
    JSON.parse(read("state.json") || '{"resources":[]}').resources;
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

test("waits for late and unexported registrations; dependsOn orders the steps", async () => {
  const s = stack();
  const r = await apply(
    s.run([
      { name: "a", create: `sleep 1; echo a >> ${s.w}/order` },
      { name: "b", create: `echo b >> ${s.w}/order`, dependsOn: ["a"] },
      { name: "c", after: "a", create: `sleep 1; echo c >> ${s.w}/order` },
    ]),
  );
  expect(r.error).toBeUndefined();
  expect(ops(r).sort()).toEqual(["create a", "create b", "create c"]);
  const order = s.read("order").split("\n");
  expect(order[0]).toBe("a");
  expect(order.sort()).toEqual(["", "a", "b", "c"]);
});

test("an input change runs `update` when set (with the previous stdout), `create` again otherwise", async () => {
  const s = stack();
  const v1 = [
    {
      name: "a",
      create: `echo create-a >> ${s.w}/order; echo first-out`,
      update: `echo "update-a $PULUMI_COMMAND_STDOUT" >> ${s.w}/order`,
    },
    { name: "b", create: `echo create-b1 >> ${s.w}/order` },
  ];
  expect((await apply(s.run(v1))).error).toBeUndefined();
  const r = await apply(
    s.run([
      { ...v1[0], stdin: "changed" },
      { name: "b", create: `echo create-b2 >> ${s.w}/order` },
    ]),
  );
  expect(r.error).toBeUndefined();
  expect(ops(r).sort()).toEqual(["update a", "update b"]);
  expect(s.read("order").split("\n").sort()).toEqual(["", "create-a", "create-b1", "create-b2", "update-a first-out"]);
});

test("a triggers change replaces: the new create runs before the old delete", async () => {
  const s = stack();
  const v = (n: number) => [
    { name: "a", triggers: [n], create: `echo create-${n} >> ${s.w}/order`, delete: `echo delete-${n} >> ${s.w}/order` },
  ];
  expect((await apply(s.run(v(1)))).error).toBeUndefined();
  // Like the engine's DeleteReplaced, the old delete waits for the end of the update (after b, which needs a).
  const r = await apply(s.run([...v(2), { name: "b", create: `echo create-b >> ${s.w}/order`, dependsOn: ["a"] }]));
  expect(r.error).toBeUndefined();
  expect(ops(r)).toEqual(["replace a", "create b", "delete a"]);
  expect(s.read("order")).toBe("create-1\ncreate-2\ncreate-b\ndelete-1\n");
  expect(s.resources().map((e) => e.inputs.triggers)).toEqual([[2]]);
});

test("stdin is delivered; environment works only for names sshd accepts (AcceptEnv)", async () => {
  const s = stack();
  const r = await apply(
    s.run([
      { name: "in", create: `cat > ${s.w}/stdin`, stdin: "hello\nworld" },
      { name: "env", create: `echo "$SANDBOX_X" > ${s.w}/env`, environment: { SANDBOX_X: "from-env" } },
    ]),
  );
  expect(r.error).toBeUndefined();
  expect(s.read("stdin")).toBe("hello\nworld");
  expect(s.read("env")).toBe("from-env\n");
  const refused = await apply(s.run([{ name: "env2", create: "true", environment: { NOT_ACCEPTED: "1" } }]));
  expect(refused.error).toContain('could not set environment variable "NOT_ACCEPTED"');
});

test("a secret fed on stdin is in neither the log nor a failing command's error", async () => {
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

test("resource options: additionalSecretOutputs, deleteBeforeReplace, ignoreChanges, retainOnDelete", async () => {
  const s = stack();
  const v = (n: number) => [
    {
      name: "a",
      triggers: [n],
      create: `echo create-${n} >> ${s.w}/order`,
      delete: `echo delete-${n} >> ${s.w}/order`,
      opts: { deleteBeforeReplace: true },
    },
    {
      name: "b",
      create: "echo b-out",
      stdin: `in-${n}`,
      export: true,
      opts: { additionalSecretOutputs: ["stdout"], ignoreChanges: ["stdin"] },
    },
    { name: "c", create: `echo c >> ${s.w}/order`, delete: `echo delete-c >> ${s.w}/order`, opts: { retainOnDelete: true } },
  ];
  const first = await apply(s.run(v(1)));
  expect(first.outputs.stdouts).toEqual({ b: { secret: true, value: "b-out" } });
  const second = await apply(s.run(v(2).slice(0, 2)));
  expect(second.error).toBeUndefined();
  expect(ops(second)).toEqual(["delete a", "replace a"]);
  expect(
    s
      .read("order")
      .split("\n")
      .filter((l) => l !== "c"),
  ).toEqual(["create-1", "delete-1", "create-2", ""]);
  expect(
    s
      .resources()
      .map((e) => e.name)
      .sort(),
  ).toEqual(["a", "b"]);
});

const chain = (w: string): Cmd[] =>
  ["a", "b", "c"].map((n, i) => ({
    name: n,
    create: `echo create-${n} >> ${w}/order`,
    delete: `echo delete-${n} >> ${w}/order`,
    dependsOn: i ? [["a", "b"][i - 1]] : [],
  }));

test("resources removed from the program are deleted, in reverse creation order", async () => {
  const s = stack();
  expect((await apply(s.run(chain(s.w)))).error).toBeUndefined();
  const r = await apply(s.run(chain(s.w).slice(0, 1)));
  expect(r.error).toBeUndefined();
  expect(ops(r)).toEqual(["delete c", "delete b"]);
  expect(s.read("order")).toBe("create-a\ncreate-b\ncreate-c\ndelete-c\ndelete-b\n");
  expect(s.resources().map((e) => e.name)).toEqual(["a"]);
});

test("destroy runs every delete in reverse creation order and empties the state", async () => {
  const s = stack();
  expect((await apply(s.run(chain(s.w)))).error).toBeUndefined();
  const r = await destroy(s.run(chain(s.w)));
  expect(r.error).toBeUndefined();
  expect(ops(r)).toEqual(["delete c", "delete b", "delete a"]);
  expect(s.read("order")).toBe("create-a\ncreate-b\ncreate-c\ndelete-c\ndelete-b\ndelete-a\n");
  expect(s.resources()).toEqual([]);
});

test("a delete that cannot connect fails the destroy and keeps the resource", async () => {
  const s = stack();
  expect((await apply(s.run(chain(s.w).slice(0, 1)))).error).toBeUndefined();
  const file = path.join(s.w, "state.json"),
    state = JSON.parse(fs.readFileSync(file, "utf8"));
  Object.assign(state.resources[0].inputs.connection, { port: 1, dialErrorLimit: 1 }); // host gone
  fs.writeFileSync(file, JSON.stringify(state));
  const r = await destroy(s.run([]));
  expect(r.error).toMatch(/delete failed: after 1 failed attempts: .*ECONNREFUSED/);
  expect(ops(r)).toEqual(["delete a FAILED"]);
  expect(s.resources().map((e) => e.name)).toEqual(["a"]);
});

test("a connection cut mid-command leaves the resource uncreated; the next apply converges", async () => {
  const s = stack();
  const cmds = [{ name: "slow", create: `sleep 2; echo done >> ${s.w}/order` }];
  const cut = await apply(s.run(cmds, { fault: { cutResource: "slow", afterMs: 300 } }));
  expect(cut.error).toContain("remote command exited without exit status");
  expect(ops(cut)).toEqual(["create slow FAILED"]);
  expect(s.resources()).toEqual([]);
  const next = await apply(s.run(cmds));
  expect(next.error).toBeUndefined();
  expect(ops(next)).toEqual(["create slow"]);
  expect(s.resources().map((e) => e.name)).toEqual(["slow"]);
});

test("CopyToRemote copies a file, a string and a directory; re-copies only on a source change", async () => {
  const s = stack();
  fs.writeFileSync(path.join(s.w, "src.txt"), "v1");
  fs.mkdirSync(path.join(s.w, "tree/sub"), { recursive: true });
  fs.writeFileSync(path.join(s.w, "tree/sub/y.txt"), "y");
  const copies = [
    { name: "f", file: path.join(s.w, "src.txt"), remotePath: path.join(s.w, "remote/deep/f.txt") },
    { name: "t", text: "hello", remotePath: path.join(s.w, "remote/t.txt") },
    { name: "d", dir: path.join(s.w, "tree"), remotePath: path.join(s.w, "remote/dir") },
  ];
  const first = await apply(s.run([], { copies }));
  expect(first.error).toBeUndefined();
  expect(ops(first).sort()).toEqual(["create d", "create f", "create t"]);
  expect(s.read("remote/deep/f.txt")).toBe("v1");
  expect(s.read("remote/t.txt")).toBe("hello");
  expect(s.read("remote/dir/tree/sub/y.txt")).toBe("y");
  expect((await apply(s.run([], { copies }))).executed).toEqual([]);
  fs.writeFileSync(path.join(s.w, "src.txt"), "v2");
  const changed = await apply(s.run([], { copies }));
  expect(ops(changed)).toEqual(["update f"]);
  expect(s.read("remote/deep/f.txt")).toBe("v2");
  const missing = await apply(s.run([], { copies: [...copies, { name: "m", file: path.join(s.w, "nope"), remotePath: "/tmp/x" }] }));
  expect(missing.error).toMatch(/command:remote:CopyToRemote \(m\): .*ENOENT/);
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

test("the CLI reads a stack file, prints the steps and masks secret outputs", async () => {
  const s = stack();
  const stackFile = path.join(s.w, "Pulumi.cli.yaml");
  const config = s.run([{ name: "a", create: "echo hi" }]).config;
  const { "fixture:secret": _secret, "fixture:privateKey": key, ...plain } = config;
  fs.writeFileSync(
    stackFile,
    [
      "config:",
      ...Object.entries(plain).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
      `  fixture:secret: { secret: ${JSON.stringify(SECRET)} }`,
      `  fixture:privateKey: ${JSON.stringify(key)}`,
      "secretKeys: [fixture:privateKey]",
      "",
    ].join("\n"),
  );
  const cli = (cmd: string) =>
    execFileSync(
      process.execPath,
      [
        "-r",
        "ts-node/register",
        "sandbox/cli.ts",
        cmd,
        "--stack-file",
        stackFile,
        "--state",
        path.join(s.w, "state.json"),
        "--program",
        FIXTURE,
        "--project",
        "fixture",
      ],
      { cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "1" }, encoding: "utf8" },
    );
  const out = cli("up");
  expect(out).toMatch(/ok {3}create {3}command:remote:Command a \d+ ms/);
  expect(out).toContain('"secretValue": "[secret]"');
  expect(out).not.toContain(SECRET);
  expect(cli("preview")).toContain("same     command:remote:Command a");
});
