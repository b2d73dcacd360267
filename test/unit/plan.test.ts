/**
 * The step plan (components/plan.ts) is consistent: names, templates, dependencies, triggers and
 * installed files agree with each other, with the layout and with files/, for generated
 * configurations; and the README's step table is the one generated from it.
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { HOST_FILES, SECRET_HOST_FILES } from "../../components/layout";
import { COMPONENTS, STEPS, StepValue, stepPlan, stepTable } from "../../components/plan";
import { FILES_DIR } from "../../components/templates";
import { validRaw } from "./lib/arbitraries";
import { parse, plainRaw, scriptOf, tlsCeleryRaw } from "./lib/fixtures";

const ROOT = path.join(__dirname, "..", "..");
/** Values the program computes itself rather than reading them from a step's output. */
const GIVEN: readonly StepValue[] = ["settingsFingerprint"];

describe("the step definitions", () => {
  test("one name per step, prefixed by its component, with a template of the same name (and no template without a step)", () => {
    const names = STEPS.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const d of STEPS) expect([d.name, d.name.startsWith(`${d.component}-`)]).toEqual([d.name, true]);
    const templates = fs
      .readdirSync(path.join(FILES_DIR, "steps"))
      .map((f) => f.replace(/\.sh\.eta$/, ""))
      .sort();
    expect(templates).toEqual([...names].sort());
  });

  test("every dependency is an earlier step or an outside resource; every condition is described", () => {
    STEPS.forEach((d, i) => {
      for (const a of d.after) {
        const at = STEPS.findIndex((x) => x.name === a);
        expect({ step: d.name, after: a, ok: at >= 0 ? at < i : ["server", "dns", "migrations", "rollout"].includes(a) }).toEqual({
          step: d.name,
          after: a,
          ok: true,
        });
      }
      // A condition in code has one in words (the README table shows it), and vice versa.
      expect([d.name, d.when === undefined]).toEqual([d.name, d.condition === undefined]);
    });
  });

  test("a step that reads a secret on stdin installs a secret file, hands it to a process and prints nothing of it, or hands PostgreSQL a verifier; no other step does", () => {
    for (const d of STEPS) {
      const installs = typeof d.installs === "function" ? d.installs(parse(tlsCeleryRaw())) : (d.installs ?? []);
      const secret = installs.filter((f) => SECRET_HOST_FILES.includes(f));
      expect([d.name, secret.length > 0 || d.publicOutput === true || d.stdin === "databaseVerifier"]).toEqual([
        d.name,
        d.stdin !== undefined,
      ]);
      // A step whose output stays public reads its secret only when configured (the checkout: repoToken).
      if (d.publicOutput) expect([d.name, d.stdin, d.stdinWhen?.(parse(plainRaw()))]).toEqual([d.name, "repoToken", false]);
    }
  });

  test("every component has a Pulumi type token django-deploy:<module>:<Type>", () => {
    for (const c of Object.values(COMPONENTS)) expect(c.type).toMatch(/^django-deploy:[a-z]+:[A-Z][A-Za-z]+$/);
  });
});

describe("plans of generated configurations", () => {
  const configs = () => {
    const out = [parse(tlsCeleryRaw()), parse(plainRaw())];
    fc.assert(
      fc.property(validRaw(), (raw) => void out.push(parse(raw))),
      { numRuns: 60 },
    );
    return out;
  };

  test("dependencies come first; triggers are produced by an earlier step (or given); each host file is installed by one step", () => {
    for (const s of configs()) {
      const plan = stepPlan(s);
      const seen = new Set<string>();
      const produced = new Set<string>(GIVEN);
      const installedBy = new Map<string, string>();
      for (const st of plan) {
        for (const a of st.after) expect([st.name, a, seen.has(a)]).toEqual([st.name, a, true]);
        for (const t of st.triggers) expect([st.name, t, produced.has(t)]).toEqual([st.name, t, true]);
        for (const f of st.installs) {
          expect([f, installedBy.get(f)]).toEqual([f, undefined]);
          installedBy.set(f, st.name);
        }
        seen.add(st.name);
        st.produces.forEach((v) => produced.add(v));
      }
    }
  });

  test("the template of every step installs exactly the files the plan lists for it (rendering checks it)", () => {
    for (const s of configs()) for (const st of stepPlan(s)) expect(() => scriptOf(s, st.name)).not.toThrow();
  });

  test("every host file is installed under some configuration", () => {
    const all = new Set(configs().flatMap((s) => stepPlan(s).flatMap((st) => st.installs)));
    const withCa = parse({ ...tlsCeleryRaw(), acmeCaBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" });
    stepPlan(withCa).forEach((st) => st.installs.forEach((f) => all.add(f)));
    expect([...all].sort()).toEqual([...HOST_FILES].sort());
  });
});

describe("README", () => {
  test("the step table is the one generated from the plan", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(stepTable());
  });
});
