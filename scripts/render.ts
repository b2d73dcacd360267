/**
 * Render everything a stack writes on its host, without cloud access or secrets, so reviewers can
 * `diff -ru` two renders:
 *
 *   npm run render -- [--stack dev | --config-file <Pulumi.x.yaml>] [--out <dir>] [--files-dir <dir>]
 *
 * Reads the stack file with js-yaml and passes its `django-deploy:*` values to parseSettings the way
 * Pulumi passes config (strings; lists, objects, numbers and booleans JSON-encoded). Secret keys are
 * never read: `secure:` values are ciphertext and skipped, and the secret settings get clearly fake
 * placeholders. Writes (default out: rendered/<stack>):
 *
 *   host/<name>              every host file the plan installs (renderHostFiles), as on disk; the
 *                            files of a release name it <commit> (its commit is known on the host)
 *   host/switch-finisher.sh  what the switch leaves running to stop the old slot and prune
 *   host/server.envrc        the server settings file, appEnv values replaced by placeholders
 *   steps/<step>.sh          every step script of the plan (renderStepScript), named like the step
 *                            and its Pulumi resource (e.g. web-nginx-site.sh); its command is stepCommand(script)
 *   host-hN/, steps/<step>-hN.sh  the same for host N >= 2 of a fleet (hosts, appHosts), named like its resources
 *   settings.json            the validated settings, defaults filled in (placeholders for secrets)
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigError, NAMESPACE, Settings, parseConfig } from "../components/config";
import { SECRET_KEYS } from "../components/config-schema";
import { renderHostFiles, renderStepScript, renderSwitchFinisher } from "../components/host-files";
import type { HostFileName } from "../components/layout";
import { sitePlan } from "../components/site-plan";
import { renderServerEnv } from "../components/secret-files";
import { useFilesDir } from "../components/templates";

const REPO_ROOT = path.join(__dirname, "..");
/** Marks a directory this script wrote, so a re-render may replace it (and nothing else). */
const MARKER = ".django-deploy-render";

/** A stack file's config as Pulumi passes it to the program: full keys → strings. */
export interface StackFile {
  values: Record<string, string>;
  /** Full keys whose values are encrypted (`secure:`) and were skipped. */
  secure: string[];
}

const hasSecure = (v: unknown): boolean =>
  typeof v === "object" && v !== null && (("secure" in v && Object.keys(v).length === 1) || Object.values(v).some(hasSecure));

/** Read a Pulumi.<stack>.yaml: strings stay as they are, other values become JSON, secure values are skipped. */
export function readStackFile(file: string): StackFile {
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, string> = {};
  const secure: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (hasSecure(value)) secure.push(key);
    else if (value !== null && value !== undefined) values[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { values, secure };
}

const placeholderKey = (name: string) =>
  `-----BEGIN OPENSSH PRIVATE KEY-----\nPLACEHOLDER-${name}-not-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n`;

/** Stand-ins for the secret settings: valid for the schema, obviously not real. */
export const PLACEHOLDERS = {
  sshPrivateKey: placeholderKey("sshPrivateKey"),
  repoDeployKey: placeholderKey("repoDeployKey"),
  appEnv: { SECRET_KEY: "PLACEHOLDER-appEnv-is-secret", DATABASE_URL: "PLACEHOLDER-appEnv-is-secret" },
  backupS3Credentials: { accessKeyId: "PLACEHOLDER", secretAccessKey: "PLACEHOLDER-is-secret" },
};

/** appEnv as rendered, with the settings the program writes itself (generated passwords, the services it creates). */
function appEnvPlaceholders(s: Settings): Record<string, string> {
  const generated = "PLACEHOLDER-written-by-the-program";
  return {
    SECRET_KEY: PLACEHOLDERS.appEnv.SECRET_KEY,
    DATABASE_URL:
      s.database === "host"
        ? "postgres://…:PLACEHOLDER-generated-password@…"
        : s.database === "rds"
          ? `postgres://…:${generated}@…?sslmode=require`
          : PLACEHOLDERS.appEnv.DATABASE_URL,
    ...(s.redis === "external" ? { CELERY_BROKER_URL: PLACEHOLDERS.appEnv.DATABASE_URL } : {}),
    ...(s.redis === "elasticache"
      ? { CELERY_BROKER_URL: `rediss://:${generated}@…/0`, CELERY_RESULT_BACKEND: `rediss://:${generated}@…/1` }
      : {}),
    ...(s.fleet.aws ? { AWS_STORAGE_BUCKET_NAME: generated, AWS_S3_REGION_NAME: generated, DJANGO_DEPLOY_MEDIA_STORAGE: "s3" } : {}),
  };
}

/**
 * Settings for rendering: the stack file's `django-deploy:*` values, with placeholders for every
 * secret. sshPrivateKey and appEnv (required) always get one; repoDeployKey only when the stack
 * file sets it. A secret key with a plain value is refused, as the program refuses it.
 */
export function renderSettings(file: StackFile): Settings {
  const prefix = `${NAMESPACE}:`;
  const raw: Record<string, string> = {};
  const problems: string[] = [];
  for (const [k, v] of Object.entries(file.values)) {
    if (!k.startsWith(prefix)) continue;
    const name = k.slice(prefix.length);
    if ((SECRET_KEYS as readonly string[]).includes(name)) {
      problems.push(`${k}: must be set as a secret: pulumi config set --secret ${name} … (its plain value was not read)`);
    } else {
      raw[name] = v;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const declared = new Set(file.secure.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)));
  raw.sshPrivateKey = PLACEHOLDERS.sshPrivateKey;
  // database: host or rds — the program writes DATABASE_URL itself (appEnv may not set it); redis:
  // external takes the broker from appEnv.
  const writesDatabase = raw.database === "host" || raw.database === "rds";
  raw.appEnv = JSON.stringify({
    SECRET_KEY: PLACEHOLDERS.appEnv.SECRET_KEY,
    ...(writesDatabase ? {} : { DATABASE_URL: PLACEHOLDERS.appEnv.DATABASE_URL }),
    ...(raw.redis === "external" ? { CELERY_BROKER_URL: PLACEHOLDERS.appEnv.DATABASE_URL } : {}),
  });
  if (declared.has("repoDeployKey")) raw.repoDeployKey = PLACEHOLDERS.repoDeployKey;
  if (declared.has("backupS3Credentials")) raw.backupS3Credentials = JSON.stringify(PLACEHOLDERS.backupS3Credentials);
  return parseConfig(raw, new Set(SECRET_KEYS)).settings;
}

/** Every rendered file, by its path inside the output directory. */
export function renderTree(settings: Settings): Record<string, string> {
  const tree: Record<string, string> = {};
  // Every host of the site: host 1 under host/ and steps/<step>.sh, host N under host-hN/ and steps/<step>-hN.sh.
  for (const { settings: s, plan, suffix } of sitePlan(settings)) {
    const files = renderHostFiles(s);
    const installed = new Set(plan.flatMap((st) => st.installs));
    for (const [name, content] of Object.entries(files)) if (installed.has(name as HostFileName)) tree[`host${suffix}/${name}`] = content;
    tree[`host${suffix}/server.envrc`] = renderServerEnv(s, appEnvPlaceholders(s));
    tree[`host${suffix}/switch-finisher.sh`] = renderSwitchFinisher(s);
    // Values printed by earlier steps (a release's commit, …) are known only on the host: placeholders here.
    for (const step of plan) tree[`steps/${step.name}${suffix}.sh`] = renderStepScript(s, step);
  }
  tree["settings.json"] = `${JSON.stringify(settings, null, 2)}\n`;
  return tree;
}

/** Replace `out` with the tree. Refuses a non-empty directory that an earlier render did not write. */
export function writeTree(out: string, tree: Record<string, string>): void {
  if (fs.existsSync(out)) {
    const entries = fs.readdirSync(out);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new Error(`${out} is not empty and was not written by npm run render; choose another --out`);
    }
    fs.rmSync(out, { recursive: true, force: true });
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, MARKER), "Written by `npm run render`; replaced by the next render.\n");
  for (const [rel, content] of Object.entries(tree)) {
    const file = path.join(out, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

export interface RenderOptions {
  stack?: string;
  configFile?: string;
  out?: string;
  filesDir?: string;
}

export function parseArgs(argv: string[]): RenderOptions {
  const opts: RenderOptions = {};
  const flags: Record<string, keyof RenderOptions> = {
    "--stack": "stack",
    "--config-file": "configFile",
    "--out": "out",
    "--files-dir": "filesDir",
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const name = flags[flag];
    if (!name) throw new UsageError(`unknown argument ${argv[i]}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === "") throw new UsageError(`${flag} needs a value`);
    opts[name] = value;
  }
  if (opts.stack !== undefined && opts.configFile !== undefined) throw new UsageError("give --stack or --config-file, not both");
  if (opts.stack !== undefined && !/^[A-Za-z0-9._-]+$/.test(opts.stack)) throw new UsageError(`--stack ${opts.stack}: not a stack name`);
  return opts;
}

export class UsageError extends Error {}

/** Render one stack; returns the output directory and the files written. */
export function render(opts: RenderOptions): { out: string; files: string[] } {
  const stack =
    opts.stack ??
    (opts.configFile
      ? path
          .basename(opts.configFile)
          .replace(/^Pulumi\./, "")
          .replace(/\.ya?ml$/, "")
      : "dev");
  const configFile = opts.configFile ?? path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
  const out = path.resolve(opts.out ?? path.join(REPO_ROOT, "rendered", stack));
  if (opts.filesDir) useFilesDir(opts.filesDir);
  try {
    const tree = renderTree(renderSettings(readStackFile(configFile)));
    writeTree(out, tree);
    return { out, files: Object.keys(tree).sort() };
  } finally {
    if (opts.filesDir) useFilesDir();
  }
}

const USAGE = "usage: npm run render -- [--stack <name> | --config-file <Pulumi.x.yaml>] [--out <dir>] [--files-dir <dir>]";

export function main(argv: string[]): number {
  try {
    const { out, files } = render(parseArgs(argv));
    process.stdout.write(`rendered ${files.length} files to ${out}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`${e instanceof ConfigError ? e.message : String((e as Error).message ?? e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
