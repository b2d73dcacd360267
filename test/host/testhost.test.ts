/**
 * The local test host itself (scripts/testhost + sandbox/hosts/testhost.ts): boots a real Debian 12
 * container, checks it looks like a fresh EC2 instance from Debian's AMI, serves the sample
 * repositories over git://, gets a certificate from Pebble with real http-01 validation, reboots,
 * and leaves nothing behind. Needs root; fails (never skips) when the host cannot start.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { buildSampleRepos, SampleRepos, versionText } from "../../sandbox/sample/repos";
import { shq, startTestHost, TestHost } from "../../sandbox/hosts/testhost";
import { GitServer, PebbleServer, startGitServer, startPebble } from "../../sandbox/hosts/services";

// Index 200 / name "thself" are reserved for this file (other suites: pick your own).
const INDEX = 200;
const NAME = "thself";
const MIN = 60_000;

describe("local test host", () => {
  let host: TestHost | undefined;
  let git: GitServer | undefined;
  let pebble: PebbleServer | undefined;
  let tmp: string;
  let repos: SampleRepos;

  const h = (): TestHost => {
    if (!host) throw new Error("the test host did not start");
    return host;
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "testhost-test-"));
    repos = await buildSampleRepos(path.join(tmp, "repos"));
    // The first run on a machine also builds the root filesystem (about 1.5 minutes).
    host = await startTestHost(INDEX, NAME);
  }, 15 * MIN);

  afterAll(async () => {
    await pebble?.stop();
    await git?.stop();
    await host?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 3 * MIN);

  test(
    "boots systemd to running (or degraded) with its own address",
    async () => {
      const r = await h().exec("systemctl is-system-running --wait");
      expect(["running", "degraded"]).toContain(r.stdout.trim());
      expect(h().ip).toBe(`10.200.${INDEX}.2`);
      expect(h().gateway).toBe(`10.200.${INDEX}.1`);
      expect((await h().run("hostname")).trim()).toBe(NAME);
      expect(await h().run("ip -4 -o addr show dev host0")).toContain(`10.200.${INDEX}.2/24`);
      // PID 1 is systemd, as on a real machine.
      expect((await h().run("cat /proc/1/comm")).trim()).toBe("systemd");
    },
    2 * MIN,
  );

  test(
    "user admin has passwordless sudo",
    async () => {
      expect((await h().run("id -un")).trim()).toBe("admin");
      expect((await h().run("sudo -n id -u")).trim()).toBe("0");
    },
    MIN,
  );

  test(
    "SSH is key-only: no passwords, no root login, fresh host key",
    async () => {
      const cfg = await h().run("sudo sshd -T");
      expect(cfg).toMatch(/^passwordauthentication no$/m);
      expect(cfg).toMatch(/^kbdinteractiveauthentication no$/m);
      expect(cfg).toMatch(/^permitrootlogin no$/m);
      // The server offers nothing but public keys.
      const attempt = spawnSync(
        "ssh",
        [
          "-F",
          "none",
          "-o",
          "BatchMode=yes",
          "-o",
          "PubkeyAuthentication=no",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=5",
          `admin@${h().ip}`,
          "true",
        ],
        { encoding: "utf8" },
      );
      expect(attempt.status).toBe(255);
      expect(attempt.stderr).toContain("Permission denied (publickey)");
      // The pinned host key is the one the host really has.
      expect((await h().run("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).trim()).toBe(h().hostKey);
      expect(h().privateKey).toContain("OPENSSH PRIVATE KEY");
    },
    MIN,
  );

  test(
    "reaches the apt mirror",
    async () => {
      await h().run("sudo apt-get update -q", { timeoutMs: 5 * MIN });
    },
    6 * MIN,
  );

  test(
    "clones the sample project with its submodules from the git server",
    async () => {
      git = await startGitServer(h(), repos.dir);
      const url = git.url(repos.names.parent);
      expect(url).toBe(`git://10.200.${INDEX}.1/example.com.git`);
      await h().run("sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git", {
        timeoutMs: 5 * MIN,
      });
      await h().run(`git clone -q --recurse-submodules ${shq(url)} ~/site`);
      expect((await h().run("git -C ~/site rev-parse HEAD")).trim()).toBe(repos.parentCommits.v1);
      expect(await h().run("cat ~/site/example-django/example/version.py")).toContain('VERSION = "v1"');
      expect(await h().run("cat ~/site/homepage/index.html")).toContain("example.com");
      expect(await h().run("test -x ~/site/example-django/manage.py && echo exec")).toBe("exec\n");

      // v2 changes the version only; v3 also changes requirements.txt.
      await h().run("cd ~/site && git checkout -q v2 && git submodule update -q --init --recursive");
      expect(await h().run("cat ~/site/example-django/example/version.py")).toContain('VERSION = "v2"');
      const dj = "git -C ~/site/example-django";
      expect((await h().exec(`${dj} diff --quiet v1 v2 -- requirements.txt`)).code).toBe(0);
      expect((await h().exec(`${dj} diff --quiet v2 v3 -- requirements.txt`)).code).toBe(1);
      expect(versionText("v2")).toBe("example.com version v2");
    },
    6 * MIN,
  );

  test(
    "Pebble issues a certificate after real http-01 validation of the test domains",
    async () => {
      pebble = await startPebble(h());
      expect(pebble.directoryUrl).toBe(`https://10.200.${INDEX}.1:14000/dir`);
      expect(pebble.domains).toEqual(["example.com", "www.example.com"]);
      await h().writeFile("/etc/ssl/pebble-listener-ca.pem", pebble.caBundlePem);
      // The listener certificate verifies from inside the host with the CA we gave it.
      await h().run(`curl -sSf --cacert /etc/ssl/pebble-listener-ca.pem ${shq(pebble.directoryUrl)}`);
      await h().run("sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends certbot", {
        timeoutMs: 5 * MIN,
      });
      await h().run(
        "sudo REQUESTS_CA_BUNDLE=/etc/ssl/pebble-listener-ca.pem certbot certonly --standalone " +
          `--non-interactive --agree-tos --register-unsafely-without-email --server ${shq(pebble.directoryUrl)} ` +
          "--cert-name example.com -d example.com -d www.example.com",
        { timeoutMs: 3 * MIN },
      );
      const chain = await h().run("sudo cat /etc/letsencrypt/live/example.com/fullchain.pem");
      const leaf = await h().run("sudo cat /etc/letsencrypt/live/example.com/cert.pem");
      // Verify the issued chain against Pebble's current root, here on this machine.
      const dir = fs.mkdtempSync(path.join(tmp, "verify-"));
      fs.writeFileSync(path.join(dir, "root.pem"), await pebble.rootPem());
      fs.writeFileSync(path.join(dir, "chain.pem"), chain);
      fs.writeFileSync(path.join(dir, "leaf.pem"), leaf);
      const out = execFileSync(
        "openssl",
        ["verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "-verify_hostname", "www.example.com", "leaf.pem"],
        { cwd: dir, encoding: "utf8" },
      );
      expect(out).toContain("leaf.pem: OK");
    },
    8 * MIN,
  );

  test(
    "reboot keeps the disk, address and keys; helpers keep serving",
    async () => {
      const bootId = (await h().run("cat /proc/sys/kernel/random/boot_id")).trim();
      await h().run("echo kept | sudo tee /var/lib/reboot-marker >/dev/null");
      await h().reboot();
      expect((await h().run("cat /proc/sys/kernel/random/boot_id")).trim()).not.toBe(bootId);
      expect((await h().run("cat /var/lib/reboot-marker")).trim()).toBe("kept");
      expect(["running", "degraded"]).toContain((await h().exec("systemctl is-system-running")).stdout.trim());
      await h().run(`git ls-remote ${shq(git!.url(repos.names.parent))} refs/tags/v3`);
      await h().run(`curl -sSf --cacert /etc/ssl/pebble-listener-ca.pem ${shq(pebble!.directoryUrl)}`);
    },
    5 * MIN,
  );

  test(
    "stop leaves nothing behind",
    async () => {
      const runDir = h().runDir;
      const pids = fs.readdirSync(path.join(runDir, "pids")).map((f) => Number(fs.readFileSync(path.join(runDir, "pids", f), "utf8")));
      const nspawnPid = Number(fs.readFileSync(path.join(runDir, "nspawn.pid"), "utf8"));
      expect(pids.length).toBeGreaterThanOrEqual(3); // git daemon, Pebble, its DNS responder
      await pebble?.stop();
      await git?.stop();
      await h().stop();
      await h().stop(); // idempotent
      const alive = (pid: number) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          return !/^\d+ \(.*\) Z/.test(stat);
        } catch {
          return false;
        }
      };
      for (const pid of [...pids, nspawnPid]) expect(alive(pid)).toBe(false);
      expect(fs.existsSync(runDir)).toBe(false);
      expect(spawnSync("ip", ["link", "show", `ve-${NAME}`]).status).not.toBe(0);
      expect(spawnSync("nft", ["list", "table", "ip", `djdeploy_testhost_${INDEX}`]).status).not.toBe(0);
    },
    3 * MIN,
  );
});
