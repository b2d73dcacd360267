/**
 * The README's main command, `npm run up [-- <stack>]` (scripts/up.sh): with a stack, `pulumi up`
 * through scripts/pulumi.sh (a local file backend and the passphrase provider by default, the stack
 * created on first use); without one, the local sandbox. The real CLI cannot be downloaded here, so a
 * stand-in `npx` on PATH records what the scripts ask of it.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.join(__dirname, "..", "..");
const SCRIPT = path.join(REPO, "scripts", "pulumi.sh");

function runScript(args: string[], env: Record<string, string>, stackExists: boolean, script = SCRIPT) {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-npx-"));
  const log = path.join(bin, "calls.log");
  fs.writeFileSync(
    path.join(bin, "npx"),
    `#!/bin/sh\necho "$* | backend=$PULUMI_BACKEND_URL" >> ${log}\ncase "$*" in *"stack select"*) exit ${stackExists ? 0 : 1};; esac\nexit 0\n`,
    { mode: 0o755 },
  );
  const r = spawnSync("bash", [script, ...args], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin, ...env }, encoding: "utf8" });
  return { ...r, calls: fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [] };
}

test("a new stack: local file backend in the repo, passphrase secrets, then the command on that stack", () => {
  const r = runScript(["dev", "up", "--yes"], { PULUMI_CONFIG_PASSPHRASE: "x" }, false);
  expect(r.status).toBe(0);
  const backend = `file://${REPO}/.pulumi`;
  expect(r.calls).toEqual([
    `--no-install pulumi stack select dev | backend=${backend}`,
    `--no-install pulumi stack init dev --secrets-provider passphrase | backend=${backend}`,
    `--no-install pulumi up --yes --stack dev | backend=${backend}`,
  ]);
});

test("an existing stack on a team backend is used as it is", () => {
  const r = runScript(["prod", "preview", "--diff"], { PULUMI_CONFIG_PASSPHRASE: "x", PULUMI_BACKEND_URL: "s3://bucket/prefix" }, true);
  expect(r.status).toBe(0);
  expect(r.calls).toEqual([
    "--no-install pulumi stack select prod | backend=s3://bucket/prefix",
    "--no-install pulumi preview --diff --stack prod | backend=s3://bucket/prefix",
  ]);
});

test("without a passphrase or without a command it stops with a clear message and runs nothing", () => {
  const noPass = runScript(["dev", "up"], {}, true);
  expect(noPass.status).toBe(64);
  expect(noPass.stderr).toContain("PULUMI_CONFIG_PASSPHRASE");
  expect(noPass.calls).toEqual([]);
  const usage = runScript(["dev"], { PULUMI_CONFIG_PASSPHRASE: "x" }, true);
  expect(usage.status).toBe(64);
  expect(usage.stderr).toContain("usage:");
});

describe("npm run up (scripts/up.sh)", () => {
  const UP = path.join(REPO, "scripts", "up.sh");

  test("with a stack: pulumi up on it, options passed on", () => {
    const r = runScript(["staging", "--yes"], { PULUMI_CONFIG_PASSPHRASE: "x" }, true, UP);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      `--no-install pulumi stack select staging | backend=file://${REPO}/.pulumi`,
      `--no-install pulumi up --yes --stack staging | backend=file://${REPO}/.pulumi`,
    ]);
  });

  test("without a stack: the local sandbox's up (no cloud account, no passphrase needed)", () => {
    const r = runScript([], {}, true, UP);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual(["--no-install ts-node --transpile-only sandbox/cli.ts up | backend="]);
  });
});
