/**
 * The sample project as git repositories: turns the plain directories of
 * `sandbox/sample/example.com/` into three bare repositories in a directory of the caller's:
 *
 *   example.com.git      the parent: `parent/` files + .gitmodules + two submodules at RELATIVE URLs
 *                          example-django -> ../example-django.git
 *                          homepage       -> ../homepage.git
 *   example-django.git   the Django project (`example-django/`)
 *   homepage.git         the static homepage (`homepage/`)
 *
 * Serve the directory with `startGitServer` (sandbox/hosts/services.ts) and clone
 * `git://<gateway>/example.com.git` with `--recurse-submodules`.
 *
 * Versions (tags on the parent AND on example-django; the parent's tag points at a commit whose
 * submodule pointer selects the example-django commit of the same version):
 *   v1  as in the fixture directory: /version shows "example.com version v1". Branch `main` = v1.
 *   v2  only example/version.py changes (/version shows "... version v2"); requirements.txt is
 *       byte-for-byte the same as v1's, so a deploy of v2 must NOT re-run the venv step.
 *   v3  v2 + requirements.txt gains a comment line, and /version shows "... version v3".
 *   v4  v3 with /version "... version v4" (a code-only deploy after a requirements change).
 *   broken-syntax, broken-wsgi, broken-migration, unhealthy: v4 broken in one way each (see
 *       SAMPLE_VERSIONS); the version after a broken one starts from the good files again.
 *   destructive-migration: v4 whose migration drops Note.body (a release that deploys, and loses data).
 *   check-warning: v4 whose settings make `manage.py check --deploy` warn (security.W012): the
 *       release step must refuse it.
 *   counted-migration: v4 with a migration that records each run (fleet_migrationrun): a fleet
 *       must run it once. unhealthy-marked: v4 whose /healthz answers 503 on a host that has
 *       UNHEALTHY_MARKER (versions.ts), for a release that fails its health check on one host only.
 * Every commit of every repository is also reachable from its `main` branch's history or a tag.
 * Commits use fixed identities and dates, so the same fixture gives the same commit ids every run.
 *
 * Only `git` is needed (no global git config is read or required; works as root in CI).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SAMPLE_VERSIONS } from "./versions";

export const FIXTURE_DIR = path.join(__dirname, "example.com");
export { SAMPLE_VERSIONS, type SampleVersion } from "./versions";

/** The domain of the sample project (ALLOWED_HOSTS = www.example.com,example.com). */
export const SAMPLE_DOMAIN = "example.com";



/** The text /version returns (without the trailing newline) for a version. */
export function versionText(version: string): string {
  return `example.com version ${version}`;
}

export interface SampleRepos {
  /** The directory holding the three bare repositories (give it to startGitServer). */
  dir: string;
  parentBare: string;
  djangoBare: string;
  homepageBare: string;
  /** Repository names relative to `dir`, as used in git:// URLs. */
  names: { parent: string; django: string; homepage: string };
  /** Commit ids of the parent per tag (v1, v2, v3). */
  parentCommits: Record<string, string>;
  /** Commit ids of example-django per tag. */
  djangoCommits: Record<string, string>;
  homepageCommit: string;
  /** Point a branch of the parent repository (e.g. main) at a tag or commit, as a push would. */
  setParentBranch(branch: string, target: string): Promise<void>;
}

const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  LC_ALL: "C",
};
const IDENTITY = ["-c", "user.name=django-deploy tests", "-c", "user.email=tests@example.com"];
const BASE_DATE = Date.UTC(2024, 0, 1) / 1000;

function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      [...IDENTITY, "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", ...args],
      { cwd: opts.cwd, env: { ...GIT_ENV, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(" ")} failed in ${opts.cwd ?? "."}: ${stderr || err.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** Copy a fixture directory, leaving out Python caches and anything else ignored by nature. */
function copyTree(src: string, dst: string): void {
  fs.cpSync(src, dst, {
    recursive: true,
    filter: (p) => !/(^|\/)(__pycache__|\.pytest_cache)(\/|$)|\.pyc$/.test(p),
  });
}

let commitCounter = 0;
/** Commit the work tree (or only `paths`, for a parent whose gitlinks are staged by hand). */
async function commitAll(cwd: string, message: string, paths?: string[]): Promise<string> {
  const when = `${BASE_DATE + 60 * ++commitCounter} +0000`;
  await git(paths ? ["add", "--", ...paths] : ["add", "-A"], { cwd });
  await git(["commit", "-q", "-m", message], {
    cwd,
    env: { GIT_AUTHOR_DATE: when, GIT_COMMITTER_DATE: when },
  });
  return git(["rev-parse", "HEAD"], { cwd });
}

async function tag(cwd: string, name: string, message: string): Promise<void> {
  const when = `${BASE_DATE + 60 * ++commitCounter} +0000`;
  await git(["tag", "-a", name, "-m", message], { cwd, env: { GIT_COMMITTER_DATE: when } });
}

/** The data of a SampleRepos (what a later process needs to use the same repositories). */
export type SampleReposData = Omit<SampleRepos, "setParentBranch">;

/** The repositories described by `data`, with their operations. */
export function sampleRepos(data: SampleReposData): SampleRepos {
  return {
    ...data,
    setParentBranch: async (branch: string, target: string) => {
      const sha = await git(["rev-parse", `${target}^{commit}`], { cwd: data.parentBare });
      await git(["update-ref", `refs/heads/${branch}`, sha], { cwd: data.parentBare });
    },
  };
}

/**
 * Write a broken version's files into a work tree: "APPEND:<text>" appends, "REPLACE:<a>=><b>"
 * replaces once (and must find <a>), anything else is the whole file. Returns what puts the good
 * files back.
 */
function applyBreaks(dir: string, breaks: Record<string, string>): () => void {
  const before = new Map<string, string | undefined>();
  for (const [rel, change] of Object.entries(breaks)) {
    const file = path.join(dir, rel);
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    before.set(file, old);
    if (change.startsWith("APPEND:")) fs.writeFileSync(file, (old ?? "") + change.slice("APPEND:".length));
    else if (change.startsWith("REPLACE:")) {
      const [from, to] = change.slice("REPLACE:".length).split("=>");
      if (old === undefined || !old.includes(from)) throw new Error(`${rel} has no ${JSON.stringify(from)} to replace`);
      fs.writeFileSync(file, old.replace(from, to));
    } else fs.writeFileSync(file, change);
  }
  return () => {
    for (const [file, old] of before) {
      if (old === undefined) fs.rmSync(file);
      else fs.writeFileSync(file, old);
    }
  };
}

/**
 * Build the three bare repositories in `dir` (created if missing; must not already contain them).
 * Work trees are made in a temporary directory and deleted afterwards.
 */
export async function buildSampleRepos(dir: string): Promise<SampleRepos> {
  commitCounter = 0;
  fs.mkdirSync(dir, { recursive: true });
  const names = { parent: "example.com.git", django: "example-django.git", homepage: "homepage.git" };
  const parentBare = path.join(dir, names.parent);
  const djangoBare = path.join(dir, names.django);
  const homepageBare = path.join(dir, names.homepage);
  for (const p of [parentBare, djangoBare, homepageBare]) {
    if (fs.existsSync(p)) throw new Error(`buildSampleRepos: ${p} already exists`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "sample-repos-"));
  try {
    // --- homepage: one commit -------------------------------------------------------------------
    const hp = path.join(work, "homepage");
    copyTree(path.join(FIXTURE_DIR, "homepage"), hp);
    await git(["init", "-q"], { cwd: hp });
    const homepageCommit = await commitAll(hp, "Homepage");

    // --- example-django: one commit per version -------------------------------------------------
    const dj = path.join(work, "example-django");
    copyTree(path.join(FIXTURE_DIR, "example-django"), dj);
    await git(["init", "-q"], { cwd: dj });
    const versionFile = path.join(dj, "example", "version.py");
    const requirementsFile = path.join(dj, "requirements.txt");
    const versionSource = fs.readFileSync(versionFile, "utf8");
    if (!/VERSION = "v1"/.test(versionSource)) throw new Error(`${versionFile} must say VERSION = "v1"`);
    const djangoCommits: Record<string, string> = {};
    for (const v of SAMPLE_VERSIONS) {
      fs.writeFileSync(versionFile, versionSource.replace(/VERSION = "v1"/, `VERSION = "${v.version}"`));
      if (v.requirementsChanged) {
        fs.appendFileSync(requirementsFile, `# ${v.tag}: requirements changed (the venv must be rebuilt)\n`);
      }
      const restore = applyBreaks(dj, v.breaks ?? {});
      djangoCommits[v.tag] = await commitAll(dj, v.tag === "v1" ? "Example Django project" : `Version ${v.version}`);
      await tag(dj, v.tag, `example-django ${v.tag}`);
      restore();
    }

    // --- parent: .gitmodules + gitlinks, one commit per version -----------------------------------
    const parent = path.join(work, "example.com");
    copyTree(path.join(FIXTURE_DIR, "parent"), parent);
    fs.writeFileSync(
      path.join(parent, ".gitmodules"),
      [
        '[submodule "example-django"]',
        "\tpath = example-django",
        `\turl = ../${names.django}`,
        '[submodule "homepage"]',
        "\tpath = homepage",
        `\turl = ../${names.homepage}`,
        "",
      ].join("\n"),
    );
    const parentFiles = fs.readdirSync(parent);
    await git(["init", "-q"], { cwd: parent });
    await git(["update-index", "--add", "--cacheinfo", `160000,${homepageCommit},homepage`], { cwd: parent });
    const parentCommits: Record<string, string> = {};
    for (const v of SAMPLE_VERSIONS) {
      await git(["update-index", "--add", "--cacheinfo", `160000,${djangoCommits[v.tag]},example-django`], {
        cwd: parent,
      });
      parentCommits[v.tag] = await commitAll(parent, `example.com ${v.tag}`, parentFiles);
      await tag(parent, v.tag, `example.com ${v.tag}`);
    }
    // main = v1 in the parent; the submodules' main is their tip (every commit reachable).
    await git(["update-ref", "refs/heads/main", parentCommits.v1], { cwd: parent });

    // --- bare clones --------------------------------------------------------------------------
    for (const [src, dst] of [
      [hp, homepageBare],
      [dj, djangoBare],
      [parent, parentBare],
    ] as const) {
      await git(["clone", "-q", "--bare", "--no-local", src, dst]);
      // A bare clone keeps remote-tracking config to the temp work tree: drop it.
      await git(["remote", "remove", "origin"], { cwd: dst });
    }

    return sampleRepos({ dir, parentBare, djangoBare, homepageBare, names, parentCommits, djangoCommits, homepageCommit });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
