/**
 * `npm run render` (scripts/render.ts): renders a stack's host files and step scripts without cloud
 * access or secrets. A one-line change to one template in a copy of files/ shows up in `diff -ru`
 * of two renders as exactly that line in the rendered host file, plus the same line in each step
 * script that embeds that file — and nowhere else.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FILES_DIR } from "../../components/templates";
import { PLACEHOLDERS, main, render } from "../../scripts/render";
import { DOCUMENTED_STEPS, REPO_ROOT } from "./harness";

let tmp: string;
let before: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "django-deploy-render-"));
  before = path.join(tmp, "before");
  render({ stack: "dev", out: before });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface FileDiff {
  removed: string[];
  added: string[];
}

/** `diff -ru a b`, parsed: relative path → removed and added lines. */
function diffRu(a: string, b: string): { text: string; files: Record<string, FileDiff> } {
  const res = spawnSync("diff", ["-ru", a, b], { encoding: "utf8" });
  if (res.status !== 0 && res.status !== 1) throw new Error(`diff failed: ${res.stderr}`);
  const files: Record<string, FileDiff> = {};
  let current: FileDiff | undefined;
  for (const line of res.stdout.split("\n")) {
    if (line.startsWith("diff -ru ")) {
      const rel = path.relative(a, line.split(" ")[2]);
      current = files[rel] = { removed: [], added: [] };
    } else if (line.startsWith("Only in ")) {
      files[line] = { removed: [], added: [] };
    } else if (current && line.startsWith("-") && !line.startsWith("--- ")) {
      current.removed.push(line.slice(1));
    } else if (current && line.startsWith("+") && !line.startsWith("+++ ")) {
      current.added.push(line.slice(1));
    }
  }
  return { text: res.stdout, files };
}

/** A copy of files/ with one line of one template replaced (the line must occur exactly once). */
function filesWithChange(name: string, template: string, from: string, to: string): string {
  const dir = path.join(tmp, `files-${name}`);
  fs.cpSync(FILES_DIR, dir, { recursive: true });
  const file = path.join(dir, template);
  const lines = fs.readFileSync(file, "utf8").split("\n");
  expect(lines.filter((l) => l === from)).toHaveLength(1);
  fs.writeFileSync(file, lines.map((l) => (l === from ? to : l)).join("\n"));
  return dir;
}

/** What `npm run render` writes for the dev stack (no repoDeployKey there), host-wait aside. */
// The dev stack keeps database: external: the data-* steps are not in its plan (test/program/data-tier.test.ts has them).
const ALL_STEPS_BUT_WAIT = DOCUMENTED_STEPS.filter((n) => n !== "host-wait" && n !== "code-deploy-key" && !n.startsWith("data-"));

/**
 * Each case: the files the change must show up in, and how often in each. app-switch also shows the
 * fingerprint of the program files it installs changing (one more line): that is how it knows the
 * live slot runs other programs.
 */
const CONFIG_HASH_LINE = /^want="\$commit [0-9a-f]{64} \$settings"$/;
const CASES: { change: string; template: string; from: string; to: string; files: Record<string, number>; configHash?: boolean }[] = [
  {
    change: "a host file line: nginx site (embedded in web-nginx-site)",
    template: "nginx/site.conf.eta",
    from: "        expires 7d;",
    to: "        expires 30d;",
    files: { "host/site.conf": 1, "steps/web-nginx-site.sh": 1 },
  },
  {
    change: "a host file line: certbot deploy hook (embedded in web-certificate)",
    template: "certbot-deploy-hook.sh.eta",
    from: "nginx -t -q",
    to: "nginx -t",
    files: { "host/certbot-deploy-hook.sh": 1, "steps/web-certificate.sh": 1 },
  },
  {
    change: "a host file line: gunicorn.conf.py (both slots' files, both embedded in app-switch)",
    template: "gunicorn.conf.py.eta",
    from: "max_requests = 1000",
    to: "max_requests = 2000",
    files: { "host/gunicorn-a.conf.py": 1, "host/gunicorn-b.conf.py": 1, "steps/app-switch.sh": 2 },
    configHash: true,
  },
  {
    change: "a step-only template line: env-venv",
    template: "steps/env-venv.sh.eta",
    from: 'echo "venv $requirementsHash built"',
    to: 'echo "venv $requirementsHash ready"',
    files: { "steps/env-venv.sh": 1 },
  },
  {
    change: "the shared step helpers: every step script but host-wait (which has none)",
    template: "partials/step-lib.sh.eta",
    from: "umask 022",
    to: "umask 027",
    files: Object.fromEntries(ALL_STEPS_BUT_WAIT.map((s) => [`steps/${s}.sh`, 1])),
  },
  {
    change: "an included template: the TLS parameters appear twice in site.conf (apex and www servers)",
    template: "partials/tls-params.eta",
    from: "    ssl_session_timeout 1d;",
    to: "    ssl_session_timeout 4h;",
    files: { "host/site.conf": 2, "steps/web-nginx-site.sh": 2 },
  },
];

describe("npm run render: one template line → exactly that line in the rendered files", () => {
  test.each(CASES)("$change", ({ change, template, from, to, files, configHash = false }) => {
    const after = path.join(tmp, `after-${CASES.findIndex((c) => c.change === change)}`);
    render({ stack: "dev", out: after, filesDir: filesWithChange(path.basename(after), template, from, to) });
    const { text, files: changed } = diffRu(before, after);
    expect(Object.keys(changed).sort()).toEqual(Object.keys(files).sort());
    // The same single line in every file (the host file, and the heredoc that embeds it in its step).
    for (const [f, times] of Object.entries(files)) {
      const got = changed[f];
      if (configHash && f === "steps/app-switch.sh") {
        expect([
          got.removed.filter((l) => CONFIG_HASH_LINE.test(l)).length,
          got.added.filter((l) => CONFIG_HASH_LINE.test(l)).length,
        ]).toEqual([1, 1]);
        got.removed = got.removed.filter((l) => !CONFIG_HASH_LINE.test(l));
        got.added = got.added.filter((l) => !CONFIG_HASH_LINE.test(l));
      }
      expect([f, got]).toEqual([f, { removed: Array(times).fill(from), added: Array(times).fill(to) }]);
    }
    // One hunk per changed occurrence (and the fingerprint line), each a one-line change.
    expect((text.match(/^@@ /gm) ?? []).length).toBe(Object.values(files).reduce((a, b) => a + b, 0) + (configHash ? 1 : 0));
  });

  test("after useFilesDir, rendering is back on files/: a second render of the same stack is identical", () => {
    const again = path.join(tmp, "again");
    render({ stack: "dev", out: again });
    expect(diffRu(before, again).text).toBe("");
  });
});

describe("npm run render: output", () => {
  test("writes every host file, the placeholder .server.envrc, every step script and the settings", () => {
    const list = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? list(path.join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name]));
    expect(list(before).sort()).toEqual(
      [
        ".django-deploy-render",
        "settings.json",
        ...[
          "20auto-upgrades",
          "acme-bootstrap.conf",
          "certbot-deploy-hook.sh",
          "gunicorn-a.conf.py",
          "gunicorn-b.conf.py",
          "redis-server.conf",
          "runinenv.sh",
          "site.conf",
          "sshd.conf",
          "supervisor-web-a.conf",
          "supervisor-web-b.conf",
          "supervisor-celery-a.conf",
          "supervisor-celery-b.conf",
          "supervisor-beat.conf",
          "sysctl.conf",
          "server.envrc",
          "switch-finisher.sh",
        ].map((f) => `host/${f}`),
        ...["host-wait", ...ALL_STEPS_BUT_WAIT].map((s) => `steps/${s}.sh`),
      ].sort(),
    );
    const envrc = fs.readFileSync(path.join(before, "host/server.envrc"), "utf8");
    expect(envrc).toContain("export ALLOWED_HOSTS=www.dev.example.com,dev.example.com\n");
    expect(envrc).toContain(`export SECRET_KEY=${PLACEHOLDERS.appEnv.SECRET_KEY}\n`);
    const settings = JSON.parse(fs.readFileSync(path.join(before, "settings.json"), "utf8"));
    expect(settings).toMatchObject({ domain: "dev.example.com", target: { kind: "ec2" }, clientMaxBodySize: "1M", hasDeployKey: false });
    // The public settings only: no secret, not even a placeholder.
    for (const k of ["sshPrivateKey", "repoDeployKey", "appEnv"]) expect(settings).not.toHaveProperty(k);
  });

  test("a secure repoDeployKey in the stack file gets a placeholder and its step; ciphertext is never used", () => {
    const file = path.join(tmp, "Pulumi.qa.yaml");
    const dev = fs.readFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), "utf8");
    fs.writeFileSync(
      file,
      `${dev}  django-deploy:repoDeployKey:\n    secure: v1:Q0lQSEVSVEVYVA==\n  django-deploy:appEnv:\n    secure: v1:T1RIRVJDSVBIRVI=\n`,
    );
    const out = path.join(tmp, "qa");
    const { files } = render({ configFile: file, out });
    expect(files).toContain("steps/code-deploy-key.sh");
    const settings = JSON.parse(fs.readFileSync(path.join(out, "settings.json"), "utf8"));
    expect(settings).toMatchObject({ hasDeployKey: true });
    for (const f of files) expect([f, fs.readFileSync(path.join(out, f), "utf8").includes("v1:")]).toEqual([f, false]);
  });

  test("a secret key with a plain value is refused, without echoing the value", () => {
    const file = path.join(tmp, "Pulumi.plain.yaml");
    fs.writeFileSync(
      file,
      'config:\n  django-deploy:domain: example.com\n  django-deploy:appEnv:\n    SECRET_KEY: "plain-secret-value-XYZ"\n',
    );
    expect(() => render({ configFile: file, out: path.join(tmp, "plain") })).toThrow(/django-deploy:appEnv: must be set as a secret/);
    try {
      render({ configFile: file, out: path.join(tmp, "plain") });
    } catch (e) {
      expect((e as Error).message).not.toContain("plain-secret-value-XYZ");
    }
  });

  test("refuses to replace a non-empty directory it did not write", () => {
    const foreign = path.join(tmp, "foreign");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "keep.txt"), "mine\n");
    expect(() => render({ stack: "dev", out: foreign })).toThrow(/not empty and was not written by npm run render/);
    expect(fs.readFileSync(path.join(foreign, "keep.txt"), "utf8")).toBe("mine\n");
  });

  test("the command line (a real process): --stack dev --out <dir>", () => {
    const out = path.join(tmp, "cli");
    const res = spawnSync(
      process.execPath,
      ["-r", "ts-node/register", path.join(REPO_ROOT, "scripts", "render.ts"), "--stack", "dev", "--out", out],
      {
        cwd: REPO_ROOT,
        encoding: "utf8",
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "1" },
      },
    );
    expect([res.status, res.stderr]).toEqual([0, ""]);
    expect(res.stdout).toBe(`rendered 30 files to ${out}\n`);
    expect(diffRu(before, out).text).toBe("");
  }, 30000);

  test("main(): --config-file, usage errors (exit 2), invalid configuration (exit 1)", () => {
    const stderr: string[] = [];
    const spies = [
      jest.spyOn(process.stdout, "write").mockImplementation(() => true),
      jest.spyOn(process.stderr, "write").mockImplementation((s) => (stderr.push(String(s)), true)),
    ];
    try {
      const out = path.join(tmp, "main");
      expect(main([`--config-file=${path.join(REPO_ROOT, "Pulumi.dev.yaml")}`, `--out=${out}`])).toBe(0);
      expect(diffRu(before, out).text).toBe("");
      expect(main(["--stack", "../dev"])).toBe(2);
      expect(main(["--stack", "dev", "--config-file", "x.yaml"])).toBe(2);
      expect(main(["--bogus"])).toBe(2);
      expect(main(["--out"])).toBe(2);
      const bad = path.join(tmp, "Pulumi.bad.yaml");
      fs.writeFileSync(bad, "config:\n  django-deploy:domain: exa mple.com\n");
      expect(main(["--config-file", bad, "--out", path.join(tmp, "bad")])).toBe(1);
      expect(stderr.join("")).toMatch(/django-deploy:domain: must be a lowercase DNS name/);
      expect(fs.existsSync(path.join(tmp, "bad"))).toBe(false);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
