/**
 * The site's plan across its hosts: one step plan per host (plan.ts), each rendered with that host's
 * role, and the order of the rollout. Pure: `sitePlan(settings)` says what every host runs and
 * after what; scale-out.ts only wires it into resources.
 *
 * - Host 1 (primary) keeps the single-host resource names, runs the migrations and fixtures in its
 *   release step and is the one host that runs Celery beat.
 * - Host N ≥ 2 gets the name suffix `-hN`, checks out the commit host 1 resolved repoRef to, and
 *   prepares its release only after host 1's (the database is migrated by then).
 * - Switches go a batch (`rollingBatch`) at a time: a host of batch k switches after every host of
 *   batch k−1 switched, each through the health-checked switch, so a host that fails stops the
 *   rollout there while the others keep serving what they served.
 */
import type { Settings } from "./config";
import { PlannedStep, stepPlan } from "./plan";

export interface HostPlan {
  /** 1-based. */
  number: number;
  primary: boolean;
  /** Appended to the host's resource names. */
  suffix: string;
  /** The settings its files are rendered with (`hostRole` set). */
  settings: Settings;
  plan: PlannedStep[];
  /** Hosts (numbers) whose switch this host's switch waits for: the batch before its own. */
  switchAfter: number[];
}

export const hostSuffix = (n: number): string => (n === 1 ? "" : `-h${n}`);

/** The hosts (numbers) of the batch before host n's, with `batch` hosts switched at a time. */
export function previousBatch(n: number, batch: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`host number: expected a whole number from 1; got ${n}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`rollingBatch: expected a whole number from 1; got ${batch}`);
  const k = Math.floor((n - 1) / batch);
  if (k === 0) return [];
  return Array.from({ length: batch }, (_, i) => (k - 1) * batch + i + 1);
}

export function sitePlan(s: Settings): HostPlan[] {
  return Array.from({ length: s.fleet.count }, (_, i) => {
    const number = i + 1;
    const settings: Settings = { ...s, hostRole: { number, primary: number === 1 } };
    return {
      number,
      primary: number === 1,
      suffix: hostSuffix(number),
      settings,
      plan: stepPlan(settings),
      switchAfter: previousBatch(number, s.fleet.rollingBatch),
    };
  });
}
