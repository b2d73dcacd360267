/**
 * Runs rendered step scripts for real in bash, with every external command replaced by a stub that
 * records its exact argument vector (and what it read on standard input) instead of doing anything.
 * This is what "the quoted words read back as exactly the values" means for a whole script: bash
 * parses and expands the script text as it will on the host, and the test compares the argv each
 * command would have received with the values of the configuration, byte for byte.
 *
 * Safety: PATH is an empty directory (an unknown command is only recorded, as `UNKNOWN:<name>`),
 * builtins that could act on the machine (kill, exec, eval, source, cd, echo/printf output) are
 * stubbed too, and as root the harness runs as nobody (see runBashHarness).
 */
import * as fs from "fs";
import * as path from "path";
import { Settings } from "../../../components/config";
import { PLACEHOLDER_VALUES, RenderedHostFile, packagesOf, renderHostFiles, repoTokenHelper } from "../../../components/host-files";
import { HostFileName, layoutOf } from "../../../components/layout";
import { stepPlan } from "../../../components/plan";
import { scriptOf, stepNames } from "./fixtures";
import { chunks, pool, CORES, runBashHarness, splitNul, tempDir } from "./tools";

export const FAKE_SHA = "0123456789abcdef0123456789abcdef01234567";
/** What the simulated checkout reads on standard input when repoToken is set. */
export const SIM_REPO_TOKEN = "fake-sim-repo-token-0x51m";

/** External commands (and risky builtins) the stubs stand in for. */
const STUBS = [
  "cloud-init",
  "systemctl",
  "hostname",
  "dpkg-query",
  "dpkg",
  "grep",
  "apt-get",
  "sshd",
  "sysctl",
  "useradd",
  "install",
  "tee",
  "cut",
  "rm",
  "cp",
  "mv",
  "ln",
  "nginx",
  "sed",
  "certbot",
  "supervisorctl",
  "cmp",
  "chmod",
  "chown",
  "mktemp",
  "stat",
  "env",
  "cat",
  "git",
  "python3",
  "usermod",
  "tr",
  "flock",
  "readlink",
  "setsid",
  "paste",
  "awk",
  "tail",
  "head",
  "basename",
  "dirname",
  "find",
  "comm",
  "xargs",
  "mkdir",
  "touch",
  "date",
  "sort",
  "tar",
  "curl",
  "od",
  // builtins
  "cd",
  "kill",
  "exec",
  "eval",
  "source",
  "trap",
  "ulimit",
  "enable",
];

function prelude(): string {
  return [
    "set -u",
    "__rec() {",
    '  local __in=""',
    "  IFS= read -r -d '' __in || true",
    `  builtin printf '%s\\0' "@CALL" "$1" "$(( $# - 1 ))" "\${@:2}" "$__in" >&3`,
    "}",
    ...STUBS.map((c) => `${c}() { __rec ${c} "$@"; }`),
    "# echo and printf are recorded and still print (command substitutions read them; stdout is /dev/null).",
    'echo() { __rec echo "$@"; builtin echo "$@"; }',
    'printf() { __rec printf "$@"; builtin printf "$@"; }',
    "# Waiting loops are bounded by SECONDS: a stubbed sleep moves the clock on instead of waiting.",
    'sleep() { __rec sleep "$@"; SECONDS=$((SECONDS + ${1%.*} + 1)); }',
    "# The app user does not exist yet: the layout step creates it.",
    'id() { __rec id "$@"; return 1; }',
    "# git (through sudo) resolves every ref to one fake commit.",
    `sudo() { __rec sudo "$@"; case " $* " in *" rev-parse "*) builtin printf '%s\\n' ${FAKE_SHA};; esac; }`,
    `sha256sum() { __rec sha256sum "$@"; builtin printf '%s  %s\\n' 0000 "$1"; }`,
    'seq() { __rec seq "$@"; }',
    'command_not_found_handle() { __rec "UNKNOWN:$1" "${@:2}"; return 127; }',
    "",
  ].join("\n");
}
const HELPERS_END = "# --- end of helpers ---\n";

/** The step script with install_file and site_lock (from the helpers) replaced by recording stubs. */
function instrument(script: string): string {
  const at = script.indexOf(HELPERS_END);
  if (at < 0) return script; // the wait step has no helpers
  if (script.indexOf(HELPERS_END, at + 1) >= 0) throw new Error("helpers end marker appears twice");
  const cut = at + HELPERS_END.length;
  return `${script.slice(0, cut)}install_file() { __rec install_file "$@"; }\nsite_lock() { __rec site_lock; }\n${script.slice(cut)}`;
}

export interface Call {
  cmd: string;
  args: Buffer[];
  stdin: Buffer;
}
export interface SimResult {
  calls: Call[];
  status: number;
}

/** A script and, for a step that reads a secret, what it reads on standard input (default: nothing). */
export type SimScript = string | { script: string; stdin: string };

/** Run scripts (each in its own subshell); one bash process per batch. */
export async function simulate(scripts: SimScript[], batch = 250): Promise<{ results: SimResult[]; stderr: string }> {
  // The same text (and input) behaves the same: run each distinct script once.
  const keyOf = (s: SimScript) => JSON.stringify(s);
  const distinct = [...new Map(scripts.map((s) => [keyOf(s), s])).values()];
  const { results, stderr } = await simulateDistinct(distinct, batch);
  const byText = new Map(distinct.map((s, i) => [keyOf(s), results[i]]));
  return { results: scripts.map((s) => byText.get(keyOf(s))!), stderr };
}

/** A bash here-document-free input redirection: the input as one ANSI-C quoted word. */
const inputOf = (s: SimScript) =>
  typeof s === "string"
    ? "</dev/null"
    : `< <(builtin printf '%s' $'${[...Buffer.from(s.stdin)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}')`;

async function simulateDistinct(scripts: SimScript[], batch: number): Promise<{ results: SimResult[]; stderr: string }> {
  const size = Math.max(1, Math.min(batch, Math.ceil(scripts.length / CORES)));
  const parts = await pool(chunks(scripts, size), CORES, async (list) => {
    const dir = tempDir("stepsim");
    const body = list.map(
      (s, i) =>
        `builtin printf '%s\\0' "@CASE" ${i} >&3\n(\n${instrument(typeof s === "string" ? s : s.script)}\n) ${inputOf(s)} >/dev/null\nbuiltin printf '%s\\0' "@RC" "$?" >&3\n`,
    );
    const harness = `${prelude()}{\n${body.join("")}} 3>>"$HOME/log"\n`;
    const r = await runBashHarness(harness, dir);
    if (r.code !== 0) throw new Error(`step harness failed (exit ${r.code}): ${r.stderr.slice(0, 2000)}`);
    return { results: parseLog(fs.readFileSync(`${dir}/log`), list.length), stderr: r.stderr };
  });
  return { results: parts.flatMap((p) => p.results), stderr: parts.map((p) => p.stderr).join("") };
}

function parseLog(data: Buffer, n: number): SimResult[] {
  const f = splitNul(data);
  const out: SimResult[] = [];
  let i = 0;
  let cur: SimResult | undefined;
  while (i < f.length) {
    const tag = f[i++].toString();
    if (tag === "@CASE") {
      const idx = Number(f[i++].toString());
      if (idx !== out.length) throw new Error(`step harness log out of order at case ${idx}`);
      cur = { calls: [], status: -1 };
      out.push(cur);
    } else if (tag === "@CALL") {
      const cmd = f[i++].toString();
      const count = Number(f[i++].toString());
      const args = f.slice(i, i + count);
      i += count;
      const stdin = f[i++];
      cur!.calls.push({ cmd, args, stdin });
    } else if (tag === "@RC") {
      cur!.status = Number(f[i++].toString());
    } else {
      throw new Error(`step harness log: unexpected field ${JSON.stringify(tag)}`);
    }
  }
  if (out.length !== n) throw new Error(`step harness ran ${out.length} of ${n} scripts`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// What each step must do with the configuration's values

export interface Expected {
  cmd: string;
  args: string[];
  /** When set, what the command must read on standard input (an embedded file), byte for byte. */
  stdin?: string;
}

/** A path and every directory above it, up to /. */
const ancestors = (dir: string): string[] => {
  const out = [dir];
  while (out[out.length - 1] !== "/") out.push(path.posix.dirname(out[out.length - 1]));
  return out;
};

const call = (cmd: string, args: string[], stdin?: string): Expected => ({ cmd, args, ...(stdin !== undefined ? { stdin } : {}) });

export interface StepExpectation {
  calls: Expected[];
  status: number;
}

/** The commands (in order) a step runs under the stubs, with the exact values of `s`. */
export function expectedCalls(s: Settings, step: string, files = renderHostFiles(s, PLACEHOLDER_VALUES)): StepExpectation {
  const p = layoutOf(s);
  /** install_file with the file's placement from the layout (and its rendered content, when it has one). */
  const install = (name: HostFileName) => {
    const f = p.files[name];
    const check = name.startsWith("supervisor-") ? ["check_supervisor_conf"] : [];
    return call("install_file", [f.path, f.mode, f.owner, ...check], name in files ? files[name as RenderedHostFile] : undefined);
  };
  const dirOf = (name: HostFileName) => path.posix.dirname(p.files[name].path);
  const u = s.appUser;
  switch (step) {
    case "host-wait":
      return {
        status: 0,
        calls: [call("cloud-init", ["status", "--wait"]), call("systemctl", ["is-system-running", "--wait"]), call("hostname", [])],
      };
    case "host-packages": {
      const pkgs = packagesOf(s);
      return {
        status: 0,
        calls: [
          call("dpkg", ["--configure", "-a"]),
          ...pkgs.flatMap((pkg) => [call("dpkg-query", ["-W", "-f=${Status}", pkg]), call("grep", ["-q", "install ok installed"])]),
          install("20auto-upgrades"),
          install("sshd.conf"),
          // Nothing changed (the stub prints nothing) and 0.1's drop-in is absent: no rm, no reload.
          call("install", ["-d", "-o", "root", "-g", "root", "-m", "0700", "/run/django-deploy"]),
          call("sshd", ["-t"]),
          call("sshd", ["-T", "-C", `user=${s.hostUser},host=localhost,addr=127.0.0.1`]),
          call("grep", ["-qxF", "passwordauthentication no"]),
          call("grep", ["-qxF", "permitemptypasswords no"]),
          install("sysctl.conf"),
          call("sysctl", ["-q", "-p", p.files["sysctl.conf"].path]),
          install("redis-server.conf"),
          call("systemctl", ["enable", "--now", "nginx", "supervisor", "redis-server"]),
        ],
      };
    }
    case "host-layout": {
      const b = p.buildUser;
      return {
        status: 0,
        calls: [
          call("site_lock", []),
          // Checked before anything changes: the accounts (absent here), then baseDir and every directory above it.
          call("id", ["-u", u]),
          call("id", ["-u", b]),
          ...ancestors(s.baseDir).map((d) => call("stat", ["-c", "%u %a %F", "--", d])),
          call("readlink", ["-f", "--", s.baseDir]),
          call("id", ["-u", u]),
          call("useradd", ["--system", "--create-home", "--home-dir", p.home, "--shell", "/usr/sbin/nologin", u]),
          call("echo", [`created user ${u}`]),
          call("id", ["-u", b]),
          call("useradd", ["--system", "--create-home", "--home-dir", p.buildHome, "--shell", "/usr/sbin/nologin", b]),
          call("echo", [`created user ${b}`]),
          call("grep", ["-qxF", u]),
          call("grep", ["-qxF", "redis"]),
          // Absent here (stat prints nothing): created root's, never changed when it exists.
          call("stat", ["-c", "%F", "--", s.baseDir]),
          call("install", ["-d", "-o", "root", "-g", "root", "-m", "0755", s.baseDir]),
          call("install", ["-d", "-o", "root", "-g", "root", "-m", "0755", p.site, "/var/log/django-deploy", "/var/lib/django-deploy"]),
          call("install", ["-d", "-o", "root", "-g", u, "-m", "0750", p.etc]),
          call("install", ["-d", "-o", b, "-g", b, "-m", "0750", p.cache]),
          call("install", ["-d", "-o", b, "-g", b, "-m", "0755", p.releases, p.venvs, p.static]),
          call("install", ["-d", "-o", u, "-g", u, "-m", "0755", p.media]),
          call("install", ["-d", "-o", u, "-g", u, "-m", "0750", p.var, p.logs]),
          call("install", ["-d", "-o", u, "-g", "www-data", "-m", "2750", p.run]),
          call("install", ["-d", "-o", "root", "-g", "adm", "-m", "0750", p.programLogs]),
          call("install", ["-d", "-o", "root", "-g", "root", "-m", "0700", p.state]),
          call("install", ["-d", "-o", "root", "-g", "root", "-m", "0755", p.acmeWebroot]),
          call("echo", [`layout ready under ${p.site}`]),
        ],
      };
    }
    case "code-deploy-key":
      return { status: 0, calls: [call("site_lock", []), install("deploy-key"), call("echo", ["deploy key installed"])] };
    case "code-checkout": {
      const asBuild = ["-H", "-u", p.buildUser, "--"];
      const env = [
        "env",
        "GIT_TERMINAL_PROMPT=0",
        ...(s.hasDeployKey ? [`GIT_SSH_COMMAND=ssh -i ${p.deployKey} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new`] : []),
      ];
      const parent = `${p.cache}/parent.git`;
      const git = (...a: string[]) => call("sudo", [...asBuild, ...env, "git", ...a]);
      // A fetch with repoToken: the token in git's environment, a helper for repoUrl's host only.
      const token = repoTokenHelper(s);
      const fetch = (...a: string[]) =>
        token.tokenScope
          ? call("sudo", [
              "-H",
              "-u",
              p.buildUser,
              "--preserve-env=DJANGO_DEPLOY_REPO_TOKEN",
              "--",
              ...env,
              "git",
              "-c",
              "credential.helper=",
              "-c",
              `credential.${token.tokenScope}.helper=${token.tokenHelper}`,
              ...a,
            ])
          : git(...a);
      const fullSha = /^[0-9a-f]{40}$/.test(s.repoRef);
      // A full SHA is that commit; any other ref resolves (through the stubs) to the fake commit.
      const commit = fullSha ? s.repoRef : FAKE_SHA;
      const tmp = `${p.releases}/.tmp-${commit}`;
      return {
        // requirements.txt does not exist on the test machine: the step stops there, as it must.
        status: 1,
        calls: [
          call("site_lock", []),
          call("sudo", [...asBuild, "mkdir", "-p", `${p.cache}/modules`]),
          git("init", "--quiet", "--bare", parent),
          git("-C", parent, "config", "remote.origin.url", s.repoUrl),
          fetch("-C", parent, "fetch", "--quiet", "--prune", "--force", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"),
          ...(fullSha
            ? [git("-C", parent, "cat-file", "-e", `${s.repoRef}^{commit}`)]
            : [
                git("-C", parent, "rev-parse", "-q", "--verify", `refs/tags/${s.repoRef}^{commit}`),
                git("-C", parent, "rev-parse", "-q", "--verify", `refs/heads/${s.repoRef}^{commit}`),
              ]),
          call("sudo", [...asBuild, "rm", "-rf", tmp]),
          call("sudo", [...asBuild, "mkdir", "-p", tmp]),
          git("-C", parent, "archive", "--format=tar", commit),
          call("sudo", [...asBuild, "tar", "-x", "-C", tmp]),
          git("-C", parent, "ls-tree", "-r", "-z", commit),
          call("echo", [`django-deploy:djangoDir: ${s.djangoDir}/requirements.txt does not exist at ${s.repoRef} (${commit})`]),
        ],
      };
    }
    case "env-venv": {
      const asBuild = ["-H", "-u", p.buildUser, "--"];
      const venv = `${p.venvs}/${PLACEHOLDER_VALUES.requirementsHash}`;
      // No release exists on the test machine: the glob stays literal, and grep (a stub) says it matches.
      const requirements = `${p.releases}/*/${s.djangoDir}/requirements.txt`;
      return {
        status: 0,
        calls: [
          call("site_lock", []),
          call("grep", ["-qxF", `requirementsHash=${PLACEHOLDER_VALUES.requirementsHash}`, `${p.releases}/*/.django-deploy-release`]),
          call("sudo", [...asBuild, "rm", "-rf", venv]),
          call("sudo", [...asBuild, "python3", "-m", "venv", ...(s.venvSystemSitePackages ? ["--system-site-packages"] : []), venv]),
          call("dirname", [requirements]),
          call("sudo", [
            ...asBuild,
            "env",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            ...(s.pipNoIndex ? ["PIP_NO_INDEX=1"] : []),
            `${venv}/bin/python`,
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            requirements,
          ]),
          call("sudo", [...asBuild, "touch", `${venv}/.django-deploy-venv`]),
          call("echo", [`venv ${PLACEHOLDER_VALUES.requirementsHash} built`]),
        ],
      };
    }
    case "env-server-env":
      return { status: 0, calls: [call("site_lock", []), install("server.envrc"), call("echo", ["server settings installed"])] };
    case "env-runinenv":
      return { status: 0, calls: [call("site_lock", []), install("runinenv.sh")] };
    // The release does not exist on the test machine: these two stop at their first check, naming it.
    case "app-release":
      return {
        status: 1,
        calls: [call("site_lock", []), call("echo", [`release ${PLACEHOLDER_VALUES.commit} does not exist: run code-checkout first`])],
      };
    case "app-switch":
      return {
        status: 1,
        calls: [
          call("site_lock", []),
          call("trap", ["", "PIPE", "HUP"]),
          call("echo", [`release ${PLACEHOLDER_VALUES.commit} is not prepared: run app-release first`]),
        ],
      };
    case "web-acme-bootstrap":
      return {
        status: 0,
        calls: [
          call("site_lock", []),
          call("rm", ["-f", p.nginxDefaultSite]),
          install("acme-bootstrap.conf"),
          call("ln", ["-sfn", p.nginxSite, p.nginxEnabled]),
          call("nginx", ["-t", "-q"]),
          call("systemctl", ["reload", "nginx"]),
        ],
      };
    case "web-certificate": {
      const ca = s.acmeCaBundle
        ? [
            call("install", ["-d", "-m", "0755", dirOf("acme-ca.pem"), dirOf("certbot-ca.conf")]),
            call("cat", ["/etc/ssl/certs/ca-certificates.crt", "-"], `${s.acmeCaBundle.trimEnd()}\n`),
            install("acme-ca.pem"),
            install("certbot-ca.conf"),
            call("systemctl", ["daemon-reload"]),
          ]
        : [];
      return {
        status: 0,
        calls: [
          call("site_lock", []),
          ...ca,
          call("certbot", [
            "certonly",
            "--webroot",
            "--webroot-path",
            p.acmeWebroot,
            "--cert-name",
            s.domain,
            "--domain",
            s.domain,
            "--domain",
            `www.${s.domain}`,
            "--email",
            s.certbotEmail ?? "",
            "--agree-tos",
            "--no-eff-email",
            "--non-interactive",
            "--keep-until-expiring",
            "--server",
            s.acmeServer,
          ]),
          call("install", ["-d", "-m", "0755", dirOf("certbot-deploy-hook.sh")]),
          install("certbot-deploy-hook.sh"),
          call("systemctl", ["enable", "--now", "certbot.timer"]),
        ],
      };
    }
    case "web-nginx-site":
      return {
        status: 0,
        calls: [
          call("site_lock", []),
          call("rm", ["-f", p.nginxDefaultSite]),
          call("sed", ["-i", "-E", "s/^(\\s*)ssl_protocols .*;/\\1ssl_protocols TLSv1.2 TLSv1.3;/", "/etc/nginx/nginx.conf"]),
          call("sed", [
            "-i",
            "-E",
            "s/^(\\s*)#?\\s*server_names_hash_bucket_size\\s+(32|64);/\\1server_names_hash_bucket_size 128;/",
            "/etc/nginx/nginx.conf",
          ]),
          call("rm", ["-f", `${p.nginxSite}.previous`]),
          install("site.conf"),
          call("ln", ["-sfn", p.nginxSite, p.nginxEnabled]),
          call("nginx", ["-t", "-q"]),
          call("rm", ["-f", `${p.nginxSite}.previous`]),
          call("systemctl", ["reload", "nginx"]),
          call("echo", [`nginx serves ${s.tls ? "https" : "http"}://www.${s.domain}/`]),
        ],
      };
    default:
      throw new Error(`no expectation for step ${step}: add one here`);
  }
}

const show = (c: { cmd: string; args: (string | Buffer)[] }) => [c.cmd, ...c.args.map((a) => JSON.stringify(a.toString()))].join(" ");

/**
 * Problems with one simulated run: every expected call must appear, in order, with exactly these
 * argument bytes (and stdin where given); no unknown command may have run; the exit status must match.
 */
export function checkRun(result: SimResult, expected: StepExpectation): string[] {
  const problems: string[] = [];
  for (const c of result.calls) if (c.cmd.startsWith("UNKNOWN:")) problems.push(`ran an unknown command: ${show(c)}`);
  let at = 0;
  for (const e of expected.calls) {
    const want = e.args.map((a) => Buffer.from(a, "utf8"));
    const matches = (c: Call) => c.cmd === e.cmd && c.args.length === want.length && c.args.every((a, i) => a.equals(want[i]));
    const found = result.calls.findIndex((c, i) => i >= at && matches(c));
    if (found < 0) {
      problems.push(`expected call not made (in order): ${show(e)}\n  calls were:\n    ${result.calls.map(show).join("\n    ")}`);
      break;
    }
    if (e.stdin !== undefined && !result.calls[found].stdin.equals(Buffer.from(e.stdin, "utf8"))) {
      problems.push(`${show(e)} read different input:\n--- expected\n${e.stdin}\n--- got\n${result.calls[found].stdin.toString()}`);
    }
    at = found + 1;
  }
  if (result.status !== expected.status) problems.push(`exit status ${result.status}, expected ${expected.status}`);
  return problems;
}

/** Render and simulate every step of every configuration; returns the problems per configuration. */
export async function simulateSettings(
  all: Settings[],
  steps?: (s: Settings) => string[],
): Promise<{ problems: string[][]; stderr: string }> {
  const jobs: { i: number; step: string; script: SimScript; expected: StepExpectation }[] = [];
  all.forEach((s, i) => {
    const files = renderHostFiles(s, PLACEHOLDER_VALUES);
    const names = steps ? steps(s) : stepNames(s);
    const plan = stepPlan(s);
    for (const step of names) {
      // The checkout reads the repository token on standard input when repoToken is set.
      const reads = plan.find((st) => st.name === step)?.stdin === "repoToken";
      const script = reads ? { script: scriptOf(s, step), stdin: `${SIM_REPO_TOKEN}\n` } : scriptOf(s, step);
      jobs.push({ i, step, script, expected: expectedCalls(s, step, files) });
    }
  });
  const { results, stderr } = await simulate(jobs.map((j) => j.script));
  const problems: string[][] = all.map(() => []);
  jobs.forEach((j, k) => {
    for (const p of checkRun(results[k], j.expected)) problems[j.i].push(`step ${j.step}: ${p}`);
    // The token never reaches a command line (it travels in git's environment only).
    for (const c of results[k].calls) {
      if (c.args.some((a) => a.includes(SIM_REPO_TOKEN)))
        problems[j.i].push(`step ${j.step}: the repository token is in the argv of ${show(c)}`);
    }
  });
  return { problems, stderr };
}
