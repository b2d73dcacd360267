/**
 * `npm run sandbox -- up | status | down`, as a user runs it: separate processes, a site that keeps
 * running between them, a commit pushed to the reposDir that `status --json` reports, deployed with
 * `--set repoRef=…`, a failing apply that exits non-zero, and `down` leaving nothing behind. Needs
 * root (a real local host, index 62 so that it runs beside a developer's own sandbox).
 */
import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseSets, UsageError } from "../../sandbox/cli";
import { hostRunDir } from "../../sandbox/hosts/testhost";

const MIN = 60_000;
const REPO = path.resolve(__dirname, "..", "..");
const NAME = "sbcli";
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-cli-"));
const env = { ...process.env, DJANGO_DEPLOY_SANDBOX_DIR: workDir, DJANGO_DEPLOY_SANDBOX_HOST: `${NAME}:62`, TS_NODE_TRANSPILE_ONLY: "1" };

/** `npm run sandbox -- <args>` without npm's own install checks: the CLI module in a fresh process. */
function sandbox(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["-r", "ts-node/register", "sandbox/cli.ts", ...args],
      { cwd: REPO, env, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

afterAll(async () => {
  await sandbox("down");
  fs.rmSync(workDir, { recursive: true, force: true });
}, 2 * MIN);

describe("--set KEY=VALUE", () => {
  test("values are JSON when they parse as JSON, strings otherwise; the prefix is optional", () => {
    expect(
      parseSets([
        "--set",
        "clientMaxBodySize=7M",
        "--set=gunicornWorkers=3",
        "--set",
        'fixtures=["a"]',
        "--set",
        "django-deploy:tls=false",
      ]),
    ).toEqual({
      clientMaxBodySize: "7M",
      gunicornWorkers: 3,
      fixtures: ["a"],
      tls: false,
    });
    expect(parseSets(["--set", "repoRef=v1=x"])).toEqual({ repoRef: "v1=x" });
  });

  test("anything else is a usage error", () => {
    expect(() => parseSets(["--bogus"])).toThrow(UsageError);
    expect(() => parseSets(["--set", "novalue"])).toThrow(/expected KEY=VALUE/);
  });
});

describe("up, status, down", () => {
  test("status before up: not running, exit 1", async () => {
    const r = await sandbox("status", "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no local site is running");
  });

  test(
    "up boots the host and servers, deploys, prints every step as it starts and finishes, and they keep running",
    async () => {
      const r = await sandbox("up");
      expect([r.code, r.stderr.slice(-2000)]).toEqual([0, expect.anything()]);
      const started = [...r.stdout.matchAll(/^ {2}… {4}create {2}(\S+)$/gm)].map((m) => m[1]);
      const finished = [...r.stdout.matchAll(/^ {2}ok {3}create {2}(\S+)\s+\d+\.\d s$/gm)].map((m) => m[1]);
      expect(started).toContain("host-packages");
      expect(finished.sort()).toEqual([...started].sort());
      expect(r.stdout).toMatch(/\d+ remote step\(s\), [\d.]+ s\./);
      // The process is gone; the host still answers.
      const status = await sandbox("status", "--json");
      expect(status.code).toBe(0);
      const info = JSON.parse(status.stdout) as Record<string, string>;
      expect(Object.keys(info).sort()).toEqual(["domain", "ip", "knownHostsPath", "privateKeyPath", "reposDir", "user"]);
      expect(info).toMatchObject({ ip: "10.200.62.2", user: "admin", domain: "example.com" });
      const ssh = spawnSync(
        "ssh",
        [
          "-i",
          info.privateKeyPath,
          "-o",
          `UserKnownHostsFile=${info.knownHostsPath}`,
          "-o",
          "BatchMode=yes",
          `${info.user}@${info.ip}`,
          "systemctl is-active nginx",
        ],
        {
          encoding: "utf8",
        },
      );
      expect(ssh.stdout.trim()).toBe("active");
    },
    15 * MIN,
  );

  test(
    "a commit pushed to reposDir deploys with --set repoRef; a second up with no change runs nothing",
    async () => {
      const info = JSON.parse((await sandbox("status", "--json")).stdout) as Record<string, string>;
      const parent = path.join(info.reposDir, "example.com.git");
      expect(fs.existsSync(parent)).toBe(true);
      const tagged = spawnSync("git", ["-C", parent, "tag", "pushed-v2", "v2^{commit}"], { encoding: "utf8" });
      expect(tagged.status).toBe(0);
      const r = await sandbox("up", "--set", "repoRef=pushed-v2");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/ok {3}\w+ +code-checkout/);
      const again = await sandbox("up", "--set", "repoRef=pushed-v2");
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("0 remote step(s)");
    },
    10 * MIN,
  );

  test(
    "a failing apply exits non-zero and says why",
    async () => {
      const r = await sandbox("up", "--set", "repoRef=no-such-ref");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("The apply failed");
      expect(r.stderr).toContain("no-such-ref");
    },
    10 * MIN,
  );

  test(
    "down removes the host, its servers and the work directory",
    async () => {
      const r = await sandbox("down");
      expect(r.code).toBe(0);
      expect(fs.existsSync(workDir)).toBe(false);
      expect(fs.existsSync(hostRunDir(NAME))).toBe(false);
      expect((await sandbox("status")).code).toBe(1);
    },
    5 * MIN,
  );
});
