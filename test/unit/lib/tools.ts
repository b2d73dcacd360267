/**
 * The real tools the unit suites check rendered files with: shellcheck, `nginx -t`, supervisord's own
 * config parser, Python (gunicorn.conf.py) and bash. Nothing here touches the machine's nginx,
 * supervisord or anything outside a temporary directory; every tool must be installed (CI installs
 * them with apt): a missing tool fails the suite instead of skipping it.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Debian's python3: the apt package python3-supervisor installs the `supervisor` module for it. */
export const SUPERVISOR_PYTHON = process.env.DJANGO_DEPLOY_TEST_SUPERVISOR_PYTHON ?? "/usr/bin/python3";

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message} (is it installed?)`)));
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => undefined); // a tool that exits early closes its stdin
    child.stdin.end(opts.input ?? "");
  });
}

/** Run `tasks` with at most `limit` in flight; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const CORES = Math.max(1, Math.min(4, os.cpus().length));

const temps: string[] = [];
/** A fresh temporary directory, removed by `removeTemps()` (call it in afterAll). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `django-deploy-${prefix}-`));
  temps.push(dir);
  return dir;
}
export function removeTemps(): void {
  for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------
// shellcheck

export interface ShellFinding {
  line: number;
  column: number;
  level: string;
  code: number;
  message: string;
}

/** A script shellcheck must always flag (SC2086): proves each invocation really checked its files. */
const CANARY = "#!/bin/bash\necho $1\n";

/**
 * shellcheck many scripts, batched (many files per invocation, invocations in parallel). Returns the
 * findings per script name; scripts without findings map to []. `exclude` lists SC codes to ignore.
 */
export async function shellcheck(
  scripts: Record<string, string>,
  opts: { exclude?: number[]; batch?: number } = {},
): Promise<Record<string, ShellFinding[]>> {
  const dir = tempDir("shellcheck");
  const names = Object.keys(scripts);
  // Identical texts get identical findings: check each distinct text once.
  const fileOf = new Map<string, string[]>();
  const fileOfText = new Map<string, string>();
  names.forEach((name) => {
    let file = fileOfText.get(scripts[name]);
    if (!file) {
      file = path.join(dir, `s${fileOfText.size}.sh`);
      fs.writeFileSync(file, scripts[name]);
      fileOfText.set(scripts[name], file);
      fileOf.set(file, []);
    }
    fileOf.get(file)!.push(name);
  });
  const canary = path.join(dir, "canary.sh");
  fs.writeFileSync(canary, CANARY);
  const results: Record<string, ShellFinding[]> = Object.fromEntries(names.map((n) => [n, []]));
  const exclude = opts.exclude?.length ? [`--exclude=${opts.exclude.map((c) => `SC${c}`).join(",")}`] : [];
  await pool(chunks([...fileOf.keys()], opts.batch ?? 150), CORES, async (files) => {
    const r = await run("shellcheck", ["--norc", "--shell=bash", "--format=json1", ...exclude, canary, ...files]);
    if (r.code !== 0 && r.code !== 1) throw new Error(`shellcheck failed (exit ${r.code}): ${r.stderr}`);
    const report = JSON.parse(r.stdout.toString("utf8")) as { comments: (ShellFinding & { file: string })[] };
    if (!report.comments.some((c) => c.file === canary && c.code === 2086)) {
      throw new Error("shellcheck did not flag the canary script: the check is not working");
    }
    for (const c of report.comments) {
      if (c.file === canary) continue;
      const owners = fileOf.get(c.file);
      if (!owners) throw new Error(`shellcheck reported an unknown file ${c.file}`);
      for (const name of owners) results[name].push({ line: c.line, column: c.column, level: c.level, code: c.code, message: c.message });
    }
  });
  return results;
}

/** Human-readable findings with the offending lines, for failure messages. */
export function describeFindings(script: string, findings: ShellFinding[]): string {
  const lines = script.split("\n");
  return findings.map((f) => `  line ${f.line}: SC${f.code} (${f.level}) ${f.message}\n    ${lines[f.line - 1]}`).join("\n");
}

// ---------------------------------------------------------------------------------------------
// nginx -t

/**
 * Debian 12's stock /etc/nginx/nginx.conf (nginx-common 1.22.1, unmodified conffile), up to the end
 * of its http block: what a fresh host has before the web steps edit it.
 */
export const DEBIAN12_NGINX_CONF = `user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
	worker_connections 768;
	# multi_accept on;
}

http {

	##
	# Basic Settings
	##

	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	# server_tokens off;

	# server_names_hash_bucket_size 64;
	# server_name_in_redirect off;

	include /etc/nginx/mime.types;
	default_type application/octet-stream;

	##
	# SSL Settings
	##

	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;

	##
	# Logging Settings
	##

	access_log /var/log/nginx/access.log;

	##
	# Gzip Settings
	##

	gzip on;

	# gzip_vary on;
	# gzip_proxied any;
	# gzip_comp_level 6;
	# gzip_buffers 16 8k;
	# gzip_http_version 1.1;
	# gzip_types text/plain text/css application/json application/javascript text/xml application/xml application/xml+rss text/javascript;

	##
	# Virtual Host Configs
	##

	include /etc/nginx/conf.d/*.conf;
	include /etc/nginx/sites-enabled/*;
}
`;

/** The `sed -i -E '<expr>' /etc/nginx/nginx.conf` edits a step script makes to nginx.conf. */
export function nginxConfEdits(stepScript: string): string[] {
  return [...stepScript.matchAll(/^sed -i -E '([^']*)' \/etc\/nginx\/nginx\.conf$/gm)].map((m) => m[1]);
}

/**
 * Checks nginx site files with the real `nginx -t`, each in its own prefix directory, the site
 * included from Debian 12's stock nginx.conf (DEBIAN12_NGINX_CONF) exactly where
 * /etc/nginx/sites-enabled/* is, after the edits the deploying step makes to nginx.conf (its own
 * `sed` commands, run with the real sed). pid and error log go to the prefix (`-g`): the machine's
 * nginx is never touched.
 *
 * Changes to the stock file, all about paths on this machine: pid, error_log and access_log go
 * into the prefix; the machine's modules-enabled/ and conf.d/ are not included; temp paths are set
 * in the prefix; `user` is root (ignored with a warning when not run as root).
 *
 * The site file is used verbatim except for absolute paths nginx opens while testing: the
 * certificate and key under /etc/letsencrypt/ and the log files under /var/log/nginx/. Their
 * leading directory is re-rooted into the prefix (`/etc/letsencrypt/live/<domain>/fullchain.pem` →
 * `<prefix>/etc/letsencrypt/live/<domain>/fullchain.pem`), and the re-rooted certificate paths are
 * symlinks to one throwaway self-signed certificate. Only lines of those directives may change;
 * `rewrite` verifies that.
 */
export class NginxChecker {
  readonly root = tempDir("nginx");
  private count = 0;
  private cert = path.join(this.root, "cert.pem");
  private key = path.join(this.root, "key.pem");

  async init(): Promise<void> {
    const r = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=django-deploy-unit-test",
      "-keyout",
      this.key,
      "-out",
      this.cert,
    ]);
    if (r.code !== 0) throw new Error(`openssl could not make a throwaway certificate: ${r.stderr}`);
  }

  /** Re-root the paths nginx opens; returns the test copy. */
  rewrite(site: string, prefix: string): string {
    const out = site
      .replace(/^(\s*(?:ssl_certificate|ssl_certificate_key)\s+)\/etc\/letsencrypt\//gm, `$1${prefix}/etc/letsencrypt/`)
      .replace(/^(\s*(?:access_log|error_log)\s+)\/var\/log\/nginx\//gm, `$1${prefix}/log/`);
    const a = site.split("\n");
    const b = out.split("\n");
    a.forEach((line, i) => {
      if (line !== b[i] && !/^\s*(?:ssl_certificate|ssl_certificate_key|access_log|error_log)\s/.test(line)) {
        throw new Error(`the nginx test copy changed a line it must not: ${line}`);
      }
    });
    return out;
  }

  /** The stock nginx.conf for a prefix, before any step's edits. */
  stockConf(prefix: string): string {
    const tmp = (n: string) => `${n}_temp_path ${prefix}/tmp/${n};`;
    const replace = (text: string, from: string, to: string) => {
      if (!text.includes(from)) throw new Error(`the stock nginx.conf copy lacks ${from}`);
      return text.replace(from, to);
    };
    let conf = DEBIAN12_NGINX_CONF;
    conf = replace(conf, "user www-data;\n", "user root;\n");
    conf = replace(conf, "pid /run/nginx.pid;\n", "");
    conf = replace(conf, "error_log /var/log/nginx/error.log;\n", "");
    conf = replace(conf, "include /etc/nginx/modules-enabled/*.conf;\n", "");
    conf = replace(
      conf,
      "access_log /var/log/nginx/access.log;",
      `access_log ${prefix}/log/access.log;\n\t${tmp("client_body")} ${tmp("proxy")} ${tmp("fastcgi")} ${tmp("uwsgi")} ${tmp("scgi")}`,
    );
    conf = replace(conf, "\tinclude /etc/nginx/conf.d/*.conf;\n", "");
    conf = replace(conf, "include /etc/nginx/sites-enabled/*;", `include ${prefix}/sites-enabled/*;`);
    return conf;
  }

  /**
   * `nginx -t` of one site file; `ok` only without any error or warning. `stepScript`: the step that
   * installs the file, whose nginx.conf edits apply first (none: the stock file).
   */
  async check(site: string, stepScript = ""): Promise<{ ok: boolean; output: string; tested: string; conf: string }> {
    const prefix = path.join(this.root, `p${this.count++}`);
    for (const d of ["log", "tmp", "sites-enabled"]) fs.mkdirSync(path.join(prefix, d), { recursive: true });
    const tested = this.rewrite(site, prefix);
    for (const m of tested.matchAll(/^\s*(ssl_certificate|ssl_certificate_key)\s+(\S+);$/gm)) {
      const file = m[2];
      if (!file.startsWith(`${prefix}/etc/letsencrypt/live/`)) throw new Error(`unexpected certificate path ${file}`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (!fs.existsSync(file)) fs.symlinkSync(m[1] === "ssl_certificate" ? this.cert : this.key, file);
    }
    fs.writeFileSync(path.join(prefix, "sites-enabled", "site.conf"), tested);
    const confFile = path.join(prefix, "nginx.conf");
    fs.writeFileSync(confFile, this.stockConf(prefix));
    for (const expr of nginxConfEdits(stepScript)) {
      const r = await run("sed", ["-i", "-E", expr, confFile]);
      if (r.code !== 0) throw new Error(`sed ${expr} failed: ${r.stderr}`);
    }
    const r = await run("nginx", [
      "-t",
      "-p",
      `${prefix}/`,
      "-c",
      confFile,
      "-g",
      `pid ${prefix}/nginx.pid; error_log ${prefix}/error.log;`,
    ]);
    const output = r.stderr;
    const problems = output
      .split("\n")
      .filter((l) => /\[(?:warn|emerg|alert|crit|error)\]/.test(l))
      .filter((l) => !/the "user" directive makes sense only if the master process runs with super-user privileges/.test(l));
    const ok = r.code === 0 && problems.length === 0 && /test is successful/.test(output);
    return { ok, output, tested, conf: fs.readFileSync(confFile, "utf8") };
  }
}

// ---------------------------------------------------------------------------------------------
// supervisord's parser

export interface SupervisorProcess {
  group: string;
  name: string;
  command: string;
  argv: string[];
  user: string | null;
  directory: string | null;
  stopwaitsecs: number;
  stopsignal: number;
  stopasgroup: boolean;
  killasgroup: boolean;
  startsecs: number;
  autostart: boolean;
  autorestart: string;
  redirect_stderr: boolean;
  environment: Record<string, string> | null;
  stdout_logfile: string;
}
export interface SupervisorResult {
  ok: boolean;
  error?: string;
  groups: { name: string; programs: string[] }[];
  processes: SupervisorProcess[];
  /** Directories supervisord requires to exist (log files); the parser is told they do. */
  requiredDirs: string[];
}

const SUPERVISOR_SCRIPT = String.raw`
import json, os, shlex, signal, sys
import supervisor.options as so
import supervisor.datatypes as sd

users = {}
def fake_name_to_uid(name):
    # The app user does not exist on the test machine: record the name, hand out a fake uid.
    if name not in users:
        users[name] = 200000 + len(users)
    return users[name]
so.name_to_uid = fake_name_to_uid

required = []
def fake_existing_dirpath(value):
    value = os.path.expanduser(value)
    required.append(os.path.dirname(value))
    return value
sd.existing_dirpath = fake_existing_dirpath
so.existing_dirpath = fake_existing_dirpath

results = []
for conf in json.load(sys.stdin):
    del required[:]
    users.clear()
    try:
        o = so.ServerOptions()
        o.realize(args=["-c", conf])
        uid_name = {v: k for k, v in users.items()}
        groups, procs = [], []
        for g in o.process_group_configs:
            groups.append({"name": g.name, "programs": [p.name for p in g.process_configs]})
            for p in g.process_configs:
                procs.append({
                    "group": g.name, "name": p.name, "command": p.command, "argv": shlex.split(p.command),
                    "user": uid_name.get(p.uid), "directory": p.directory,
                    "stopwaitsecs": p.stopwaitsecs, "stopsignal": int(p.stopsignal),
                    "stopasgroup": bool(p.stopasgroup), "killasgroup": bool(p.killasgroup),
                    "startsecs": p.startsecs, "autostart": bool(p.autostart), "autorestart": getattr(p.autorestart, "__name__", str(p.autorestart)),
                    "redirect_stderr": bool(p.redirect_stderr), "environment": p.environment,
                    "stdout_logfile": p.stdout_logfile,
                })
        results.append({"ok": True, "groups": groups, "processes": procs, "requiredDirs": sorted(set(required))})
    except SystemExit as e:
        results.append({"ok": False, "error": "supervisord exited: %s" % e, "groups": [], "processes": [], "requiredDirs": []})
    except Exception as e:
        results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e), "groups": [], "processes": [], "requiredDirs": []})
json.dump(results, sys.stdout)
`;

/**
 * Parse rendered programs files with supervisord's own parser (`supervisor.options.ServerOptions`,
 * as supervisord does at start), each included from a minimal supervisord.conf; one Python process
 * per batch. supervisord's usage errors print to stderr and exit: they come back as ok: false.
 */
export async function parseSupervisor(programFiles: string[], batch = 250): Promise<SupervisorResult[]> {
  const dir = tempDir("supervisor");
  const script = path.join(dir, "parse.py");
  fs.writeFileSync(script, SUPERVISOR_SCRIPT);
  const confs = programFiles.map((text, i) => {
    const d = path.join(dir, `c${i}`);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, "programs.conf"), text);
    fs.writeFileSync(
      path.join(d, "supervisord.conf"),
      `[supervisord]\nlogfile=${d}/supervisord.log\npidfile=${d}/supervisord.pid\n\n[include]\nfiles = ${d}/programs.conf\n`,
    );
    return path.join(d, "supervisord.conf");
  });
  const parts = await pool(chunks(confs, batch), CORES, async (list) => {
    const r = await run(SUPERVISOR_PYTHON, [script], { input: JSON.stringify(list) });
    if (r.code !== 0) throw new Error(`supervisor parser failed (exit ${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout.toString("utf8")) as SupervisorResult[];
  });
  return parts.flat();
}

// ---------------------------------------------------------------------------------------------
// gunicorn.conf.py

const GUNICORN_SCRIPT = String.raw`
import json, sys
out = []
for path in json.load(sys.stdin):
    ns = {}
    try:
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), ns)
        out.append({k: v for k, v in ns.items() if not k.startswith("__") and isinstance(v, (str, int, float, bool))})
    except Exception as e:
        out.append({"__error__": "%s: %s" % (type(e).__name__, e)})
json.dump(out, sys.stdout)
`;

/** Execute rendered gunicorn.conf.py files with Python (as Gunicorn does) and return their settings. */
export async function evalGunicornConfs(files: string[]): Promise<Record<string, unknown>[]> {
  const dir = tempDir("gunicorn");
  const script = path.join(dir, "eval.py");
  fs.writeFileSync(script, GUNICORN_SCRIPT);
  const paths = files.map((text, i) => {
    const p = path.join(dir, `g${i}.conf.py`);
    fs.writeFileSync(p, text);
    return p;
  });
  const r = await run(SUPERVISOR_PYTHON, [script], { input: JSON.stringify(paths) });
  if (r.code !== 0) throw new Error(`python failed (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.toString("utf8")) as Record<string, unknown>[];
}

// ---------------------------------------------------------------------------------------------
// bash

/**
 * Run a bash script file with an empty environment and PATH (only builtins and the script's own
 * functions can run). As root it runs as nobody (setpriv), so even a quoting bug that let a
 * generated value execute could not write outside the world-writable work directory.
 */
export async function runBashHarness(script: string, dir: string): Promise<RunResult> {
  fs.chmodSync(dir, 0o777);
  const file = path.join(dir, "harness.sh");
  fs.writeFileSync(file, script, { mode: 0o644 });
  const empty = path.join(dir, "empty-path");
  fs.mkdirSync(empty, { recursive: true });
  const env = { PATH: empty, LC_ALL: "C.UTF-8", HOME: dir };
  const bash = "/bin/bash";
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  return asRoot
    ? run(which("setpriv"), ["--reuid=65534", "--regid=65534", "--clear-groups", "--", bash, "--noprofile", "--norc", file], {
        cwd: dir,
        env,
      })
    : run(bash, ["--noprofile", "--norc", file], { cwd: dir, env });
}

/** The absolute path of a program on the test process's PATH. */
export function which(name: string): string {
  for (const d of (process.env.PATH ?? "").split(":")) {
    const p = path.join(d || ".", name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not installed (not on PATH)`);
}

/** Split a NUL-separated byte stream into fields (the last field must be NUL-terminated). */
export function splitNul(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      out.push(data.subarray(start, i));
      start = i + 1;
    }
  }
  if (start !== data.length) throw new Error("unterminated field in NUL-separated output");
  return out;
}
