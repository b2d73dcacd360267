/**
 * Host hardening (issue 10), for real: each test here fails on the code before the commit that
 * hardened the host (cfd03f2; the deploy checks of the release step came with e824b49), and says why
 * in a comment. One host (index 74, "hardening"), the tests in order, sharing it: the host is
 * planted with what a provider or an earlier run leaves behind before the first apply; then media,
 * forwarded headers, doubled headers, body and request limits at the schema's defaults, Certbot
 * failing, a supervisor file supervisord cannot read, and a release whose deploy checks warn.
 * Needs root; never skips.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ApplyResult, apply } from "../../sandbox/runner";
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { layoutOf } from "../../components/layout";
import { versionText } from "../../sandbox/sample/repos";
import { livePrograms, request, tempFile, waitFor } from "../../sandbox/hosts/site-checks";
import { MIN, changedFiles, liveState, names, settingsOf, waitForFinisher } from "./helpers";

const WWW = "https://www.example.com";
/** The schema's defaults (the sandbox sets these very high for its load tests). */
const DEFAULT_LIMITS = { requestRate: 20, requestBurst: 40, connectionLimit: 64 };

let site: LocalSite;
let rootCa: string;

const sh = (cmd: string) => site.host.run(cmd);
const p = () => layoutOf(settingsOf(site));
const get = (url: string) => request(site.host, url.startsWith("/") ? `${WWW}${url}` : url, { caFile: rootCa });
const failedStep = (r: ApplyResult) => r.executed.find((e) => !e.ok)?.name;

interface Raw {
  status: number;
  /** The response's header lines as sent ("Name: value"), duplicates kept. */
  lines: string[];
  body: string;
}

function execCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** curl with the site's names resolved to the host and Pebble's root trusted; `args` go before the URL. */
function resolveArgs(): string[] {
  const ip = site.host.ip;
  return [
    "--cacert",
    rootCa,
    ...["www.example.com", "example.com"].flatMap((n) => ["--resolve", `${n}:443:${ip}`, "--resolve", `${n}:80:${ip}`]),
  ];
}

/** One request; the final response's header lines exactly as sent (request() folds duplicates). */
async function curl(url: string, args: string[] = []): Promise<Raw> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hardening-curl-"));
  const head = path.join(dir, "head");
  try {
    const r = await execCurl(["-sS", "--max-time", "60", "-D", head, ...resolveArgs(), ...args, url]);
    const blocks = fs.existsSync(head)
      ? fs
          .readFileSync(head, "utf8")
          .split("\r\n\r\n")
          .filter((b) => /^HTTP\//.test(b))
      : [];
    const last = blocks.filter((b) => !/^HTTP\/\S+ 1\d\d/.test(b)).pop();
    if (!last) throw new Error(`curl ${url} got no response (${r.code}): ${r.stderr}`);
    const [status, ...lines] = last.split("\r\n");
    return { status: Number(status.split(" ")[1]), lines, body: r.stdout };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const count = (raw: Raw, name: string) => raw.lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)).length;

/** `n` GETs of `url`, at most `parallel` at once, from this one client: the status of each. */
async function burst(url: string, n: number, parallel: number): Promise<Record<string, number>> {
  const args = ["-s", "--max-time", "60", "--parallel", "--parallel-max", String(parallel), "-w", "%{http_code}\\n", ...resolveArgs()];
  for (let i = 0; i < n; i++) args.push("-o", "/dev/null", url);
  const r = await execCurl(args);
  const codes: Record<string, number> = {};
  for (const c of r.stdout.trim().split("\n")) codes[c] = (codes[c] ?? 0) + 1;
  return codes;
}

/** Poll `url` over plain HTTP while `during` runs: every status seen. */
async function pollDuring<T>(url: string, during: () => Promise<T>): Promise<{ result: T; statuses: Record<string, number> }> {
  const statuses: Record<string, number> = {};
  let done = false;
  const poller = (async () => {
    while (!done) {
      const s = await curl(url, ["-o", "/dev/null"]).then(
        (r) => String(r.status),
        (e: Error) => `error: ${e.message.slice(0, 80)}`,
      );
      statuses[s] = (statuses[s] ?? 0) + 1;
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  try {
    return { result: await during(), statuses };
  } finally {
    done = true;
    await poller;
  }
}

beforeAll(async () => {
  site = await startLocalSite({ index: 74, name: "hardening" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
}, 10 * MIN);

afterAll(async () => {
  await site?.stop();
}, 2 * MIN);

/** The authentication methods the host's running sshd offers (from its refusal of a client that has none). */
function offeredAuth(): Promise<string> {
  const args = ["-F", "none", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no", "-o", "StrictHostKeyChecking=no"];
  args.push("-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", `${site.host.user}@${site.host.ip}`, "true");
  return new Promise((resolve) =>
    execFile("ssh", args, (_err, _stdout, stderr) =>
      resolve(/Permission denied \(([^)]*)\)/.exec(String(stderr))?.[1] ?? `no refusal: ${stderr}`),
    ),
  );
}

describe("what the host already had", () => {
  test(
    "a provider's sshd drop-in, 0.1's drop-in and an interrupted dpkg: the first apply succeeds, keys only, the old drop-in gone, dpkg clean",
    async () => {
      // Before cfd03f2 the drop-in was 50-django-deploy.conf: 50-cloud-init.conf sorts first and
      // sshd keeps the first value (password logins stayed on, silently), and host-packages' apt-get
      // failed on the interrupted dpkg ("dpkg was interrupted"), so the first apply failed.
      await site.host.writeFile("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n");
      await site.host.writeFile(
        "/etc/ssh/sshd_config.d/50-django-deploy.conf",
        "# Managed by django-deploy (0.1).\nPasswordAuthentication no\nPermitRootLogin no\n",
      );
      await sh("sudo systemctl reload ssh");
      // sshd re-executes itself on a reload: a moment without a listener.
      await waitFor("sshd after its reload", 30_000, async () => (await site.host.exec("true")).code === 0);
      expect(await sh("sudo sshd -T | grep '^passwordauthentication '")).toBe("passwordauthentication yes\n");
      expect(await offeredAuth()).toBe("publickey,password");

      // A reboot mid-upgrade: a package's postinst kills dpkg while it configures (once), leaving
      // dpkg's journal in /var/lib/dpkg/updates as a lost connection or a power cut would.
      const pkg = "/root/interrupted/pkg";
      await site.host.writeFile(
        `${pkg}/DEBIAN/control`,
        "Package: django-deploy-test-interrupted\nVersion: 1.0\nArchitecture: all\nMaintainer: tests <tests@example.com>\nDescription: kills dpkg in its first configure (an interrupted upgrade)\n",
      );
      await site.host.writeFile(
        `${pkg}/DEBIAN/postinst`,
        '#!/bin/sh\nset -e\nif [ "$1" = configure ] && [ ! -e /var/lib/django-deploy-test-interrupted ]; then\n  touch /var/lib/django-deploy-test-interrupted\n  kill -9 "$PPID"\nfi\nexit 0\n',
        { mode: "0755" },
      );
      await sh(`sudo dpkg-deb --build ${pkg} /root/interrupted/pkg.deb >/dev/null`);
      const killed = await site.host.exec("sudo dpkg -i /root/interrupted/pkg.deb");
      expect(killed.code).not.toBe(0);
      expect(await sh("sudo ls /var/lib/dpkg/updates")).not.toBe("");
      // Without dpkg --configure -a first, every apt-get install fails.
      const apt = await site.host.exec("sudo apt-get install -y -q dpkg");
      expect(apt.code).not.toBe(0);
      expect(apt.stderr).toContain("dpkg was interrupted");

      const first = await apply(site.run());
      expect(first.error).toBeUndefined();
      const eff = await sh("sudo sshd -T");
      expect(eff).toMatch(/^passwordauthentication no$/m);
      expect(eff).toMatch(/^kbdinteractiveauthentication no$/m);
      expect(eff).toMatch(/^permitrootlogin no$/m);
      // The running sshd, not only its files: host-packages reloaded it because its drop-in changed.
      expect(await offeredAuth()).toBe("publickey");
      expect((await site.host.exec("test -e /etc/ssh/sshd_config.d/50-django-deploy.conf")).code).not.toBe(0);
      expect(await sh("sudo test -f /etc/ssh/sshd_config.d/00-django-deploy.conf && echo ok")).toBe("ok\n");
      expect(await sh("sudo dpkg --audit")).toBe("");
      expect(await sh("sudo ls /var/lib/dpkg/updates")).toBe("");
      expect(await sh("dpkg-query -W -f='${Status}' django-deploy-test-interrupted")).toBe("install ok installed");
      expect((await get("/version")).body.trim()).toBe(versionText("v1"));
    },
    25 * MIN,
  );
});

describe("nginx in front of Django", () => {
  test.each([
    ["page.html", "<!doctype html><script>alert(document.cookie)</script>\n"],
    ["image.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>\n'],
  ])("an uploaded %s is served as a sandboxed download, not sniffed, with HSTS", async (name, content) => {
    // Before cfd03f2, /media/ served it inline as text/html or image/svg+xml on the site's origin
    // (stored XSS): no Content-Disposition, no CSP.
    const file = tempFile(name, content);
    const up = await request(site.host, `${WWW}/upload`, { caFile: rootCa, form: { file: `@${file}` } });
    expect(up.status).toBe(200);
    const { url } = JSON.parse(up.body) as { url: string };
    expect(url).toMatch(new RegExp(`^/media/uploads/${name.split(".")[0]}.*\\.${name.split(".")[1]}$`));
    const r = await curl(`${WWW}${url}`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(content);
    const header = (n: string) => r.lines.filter((l) => l.toLowerCase().startsWith(`${n}:`)).map((l) => l.slice(n.length + 1).trim());
    expect(header("content-disposition")).toEqual(["attachment"]);
    expect(header("content-security-policy")).toHaveLength(1);
    expect(header("content-security-policy")[0]).toMatch(/(^|;\s*)sandbox(;|$)/);
    expect(header("x-content-type-options")).toEqual(["nosniff"]);
    expect(header("strict-transport-security")).toEqual(["max-age=63072000"]);
  });

  test("the forwarded headers Django sees are what nginx saw, not what the client claims", async () => {
    // Before cfd03f2, nginx appended to the client's X-Forwarded-For and passed X-Forwarded-Host and
    // Forwarded through (and the sample had no /client view).
    const r = await curl(`${WWW}/client`, [
      "-H",
      "X-Forwarded-For: 203.0.113.7",
      "-H",
      "X-Forwarded-Host: evil.example.net",
      "-H",
      "Forwarded: for=203.0.113.7;host=evil.example.net;proto=http",
      "-H",
      "X-Real-IP: 203.0.113.7",
      "-H",
      "X-Forwarded-Proto: http",
    ]);
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Record<string, unknown>;
    // This machine reaches the host from the gateway address of the test network.
    expect(seen).toMatchObject({
      HTTP_X_FORWARDED_FOR: site.host.gateway,
      HTTP_X_REAL_IP: site.host.gateway,
      HTTP_X_FORWARDED_HOST: "www.example.com",
      HTTP_X_FORWARDED_PROTO: "https",
      HTTP_FORWARDED: null,
      host: "www.example.com",
      secure: true,
    });
  });

  test("no header twice: Django's responses, static files, the apex redirect (with HSTS)", async () => {
    // Before cfd03f2, nginx added HSTS, nosniff and Referrer-Policy on top of Django's
    // SecurityMiddleware (each twice on /version), and the HTTPS apex sent no HSTS.
    const names = ["strict-transport-security", "x-content-type-options", "referrer-policy"];
    const django = await curl(`${WWW}/version`);
    expect(django.status).toBe(200);
    const stat = await curl(`${WWW}/static/notes/site.css`);
    expect(stat.status).toBe(200);
    const apex = await curl("https://example.com/notes");
    expect(apex.status).toBe(301);
    for (const [what, raw] of [
      ["/version", django],
      ["/static/", stat],
      ["apex", apex],
    ] as const) {
      expect({ what, counts: names.map((n) => count(raw, n)) }).toEqual({ what, counts: [1, 1, 1] });
    }
    // Django's own values win where it sends them.
    expect(django.lines).toContain("strict-transport-security: max-age=63072000; includeSubDomains; preload");
  });

  test(
    "at the schema's defaults: small bodies except under uploadPaths, and a burst of requests to Django answered 429 beyond the limit, static files not",
    async () => {
      // Before cfd03f2, client_max_body_size was 100M everywhere and nothing limited requests or
      // connections per client: the 2 MB POST reached Django (405) and the burst had no 429.
      try {
        const r = await apply(site.run(DEFAULT_LIMITS));
        expect(r.error).toBeUndefined();
        expect(names(r)).toEqual(["web-nginx-site"]);
        await new Promise((res) => setTimeout(res, 2000)); // nginx's new workers take over
        const site2m = tempFile("two-megabytes.bin", "x".repeat(2 * 1024 * 1024));
        const big = await curl(`${WWW}/version`, [
          "-o",
          "/dev/null",
          "-H",
          "Content-Type: application/octet-stream",
          "--data-binary",
          `@${site2m}`,
        ]);
        expect(big.status).toBe(413);
        const upload = await curl(`${WWW}/upload`, ["-F", `file=@${site2m}`]);
        expect(upload.status).toBe(200);
        expect(JSON.parse(upload.body)).toMatchObject({ size: 2 * 1024 * 1024 });

        // 32 at a time (under connectionLimit, so the request limit is what answers).
        const dj = await burst(`${WWW}/version`, 200, 32);
        expect(dj["429"] ?? 0).toBeGreaterThan(0);
        expect(dj["200"] ?? 0).toBeGreaterThan(0);
        expect((dj["200"] ?? 0) + (dj["429"] ?? 0)).toBe(200);
        await new Promise((res) => setTimeout(res, 3000)); // the bucket drains
        const st = await burst(`${WWW}/static/notes/site.css`, 200, 32);
        expect(st).toEqual({ "200": 200 });
      } finally {
        const back = await apply(site.run());
        expect(back.error).toBeUndefined();
      }
      expect(await burst(`${WWW}/version`, 100, 32)).toEqual({ "200": 100 });
    },
    8 * MIN,
  );
});

describe("Certbot failing keeps a working site", () => {
  const closedAcme = () => `https://${site.host.gateway}:14999/dir`;
  // A site that never had a certificate: none, and no ACME account (Pebble reuses an account's valid
  // authorizations, and then Certbot would not need the challenge answered at all).
  const deleteCertificate = () =>
    sh("sudo certbot delete --non-interactive --cert-name example.com >/dev/null 2>&1 && sudo rm -rf /etc/letsencrypt/accounts");

  test(
    "a plain-HTTP site that answers the challenge itself keeps serving while Certbot fails; good settings converge to HTTPS",
    async () => {
      // Before cfd03f2, the ACME bootstrap replaced the working HTTP site with its 503 server, and a
      // failed Certbot left it so.
      const plain = await apply(site.run({ tls: false }));
      expect(plain.error).toBeUndefined();
      // /healthz: the sample's one view exempt from SECURE_SSL_REDIRECT (plain HTTP reaches Django).
      // nginx's reload is asynchronous: its new workers take over a moment after the step.
      await waitFor("the plain-HTTP site", 15_000, async () => (await curl("http://www.example.com/healthz")).status === 200);
      // A site that never had a certificate (this one got it at the first apply).
      await deleteCertificate();
      const { result: bad, statuses } = await pollDuring("http://www.example.com/healthz", () =>
        apply(site.run({ acmeServer: closedAcme() })),
      );
      expect(failedStep(bad)).toBe("web-certificate");
      expect(bad.error).toContain("Certbot could not obtain the certificate");
      expect(Object.keys(statuses)).toEqual(["200"]);
      expect((await curl("http://www.example.com/healthz")).status).toBe(200);

      const good = await apply(site.run());
      expect(good.error).toBeUndefined();
      await waitFor("HTTPS", 15_000, async () => (await get("/version")).body.trim() === versionText("v1"));
      expect((await curl("http://www.example.com/version")).status).toBe(301);
    },
    10 * MIN,
  );

  test(
    "a site that does not answer the challenge is put aside for the bootstrap, and back (not the 503) when Certbot fails; then HTTPS",
    async () => {
      // Before cfd03f2, the site was simply replaced by the bootstrap: after the failed Certbot every
      // request got 503.
      const noChallenge = changedFiles({ "partials/acme-challenge.eta": "    # (no ACME challenge here)\n" });
      const plain = await apply(site.run({ tls: false }, { filesDir: noChallenge }));
      expect(plain.error).toBeUndefined();
      const siteFile = await sh(`sudo cat ${p().nginxSite}`);
      expect(siteFile).not.toContain("acme-challenge");
      await waitFor("the plain-HTTP site", 15_000, async () => (await curl("http://www.example.com/healthz")).status === 200);
      await deleteCertificate();

      const bad = await apply(site.run({ acmeServer: closedAcme() }));
      expect(failedStep(bad)).toBe("web-certificate");
      expect(bad.error).toContain("the site that served before the ACME bootstrap is back");
      expect(await sh(`sudo cat ${p().nginxSite}`)).toBe(siteFile);
      await waitFor("the previous site back", 15_000, async () => (await curl("http://www.example.com/healthz")).status === 200);

      // The ACME server works again: the next apply gets the certificate, although the bootstrap
      // step is done (it does not run again) and the site put back does not answer the challenge.
      const retry = await apply(site.run());
      expect(retry.error).toBeUndefined();
      await waitFor("HTTPS", 15_000, async () => (await get("/version")).body.trim() === versionText("v1"));
      expect((await site.host.exec(`sudo test -e ${p().nginxSiteBeforeAcme}`)).code).not.toBe(0);
    },
    10 * MIN,
  );
});

describe("supervisor files and the release's checks", () => {
  test(
    "a supervisor file supervisord cannot read never enters conf.d: the apply fails, a restart of supervisord brings the live programs back, the good files converge",
    async () => {
      // Before cfd03f2, the file was installed into conf.d unchecked: `supervisorctl update` failed on
      // it, and it stayed there, so supervisord no longer started (at the next boot or restart).
      await waitForFinisher(site);
      const before = await liveState(site);
      const confBefore = await sh("ls /etc/supervisor/conf.d");
      const filesDir = changedFiles({ "supervisor/web.conf.eta": { from: "startsecs: 3,", to: 'startsecs: "notanumber",' } });
      const bad = await apply(site.run({ repoRef: "v2" }, { filesDir }));
      expect(failedStep(bad)).toBe("app-switch");
      expect(bad.error).toContain("fails check_supervisor_conf");
      expect(await sh("ls /etc/supervisor/conf.d")).toBe(confBefore);
      expect(await sh("ls /etc/supervisor/conf.d | grep -c '^example-com-web-'")).toBe("1\n");
      expect(await sh("ls /etc/supervisor/conf.d")).toContain(`example-com-web-${before.slot}.conf`);
      expect(await liveState(site)).toEqual(before);

      await sh("sudo systemctl restart supervisor");
      await waitFor("every live program RUNNING", 90_000, async () =>
        Object.values(await livePrograms(site.host)).every((x) => x.state === "RUNNING"),
      );
      await waitFor("the site answering", 30_000, async () => (await get("/version")).status === 200);
      expect((await get("/version")).body.trim()).toBe(versionText("v1"));

      const good = await apply(site.run({ repoRef: "v2" }));
      expect(good.error).toBeUndefined();
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
    },
    10 * MIN,
  );

  test(
    "a release whose settings make check --deploy warn fails at app-release with the warning's id; nothing switches",
    async () => {
      // Before e824b49 the release step never ran `check --deploy` and the release went live.
      await waitForFinisher(site);
      const before = await liveState(site);
      const r = await apply(site.run({ repoRef: "check-warning" }));
      expect(failedStep(r)).toBe("app-release");
      expect(r.error).toMatch(/security\.W012/);
      expect(names(r)).not.toContain("app-switch");
      expect(await liveState(site)).toEqual(before);
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
    },
    8 * MIN,
  );
});
