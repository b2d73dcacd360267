/**
 * The site on all its hosts: the site plan (site-plan.ts) instantiated host by host, with the
 * dependencies between hosts that make a rollout — host 2+ check out host 1's commit and prepare
 * their release after host 1's (which migrates), and each switch waits for the batch before it.
 * Nothing here decides what runs on a host: that is the plan's job.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config";
import type { ExternalDependency, StepValue } from "./plan";
import type { HostConnection } from "./remote-step";
import { sitePlan } from "./site-plan";
import { SiteSteps, SiteStepsArgs, instantiateSteps } from "./site-steps";

export interface SiteHost {
  /** The address every step connects to. */
  address: pulumi.Input<string>;
  /** The host key every connection checks (unset: trust on first use, see site-steps.ts). */
  hostKey?: pulumi.Input<string>;
  /** Resources the host's first step waits for (the EC2 instance). */
  server?: pulumi.Resource;
}

export interface DeploySiteArgs {
  settings: Settings;
  /** Host 1 first; as many as settings.fleet.count. */
  hosts: SiteHost[];
  connection: Omit<HostConnection, "host" | "hostKey">;
  stdin: SiteStepsArgs["stdin"];
  values: SiteStepsArgs["values"];
  /** Outside resources every host's steps may wait for (the DNS records). */
  external: Partial<Record<Exclude<ExternalDependency, "server" | "migrations" | "rollout">, pulumi.Resource>>;
}

/** Every host's steps, host 1 first. */
export function deploySite(args: DeploySiteArgs): SiteSteps[] {
  const plans = sitePlan(args.settings);
  if (plans.length !== args.hosts.length) throw new Error(`deploySite: ${plans.length} host plans for ${args.hosts.length} hosts`);
  const sites: SiteSteps[] = [];
  for (const [i, hp] of plans.entries()) {
    const host = args.hosts[i];
    const first = sites[0];
    const values: Partial<Record<StepValue, pulumi.Input<string>>> = {
      ...args.values,
      ...(first ? { releaseCommit: first.value("commit") } : {}),
    };
    sites.push(
      instantiateSteps({
        settings: hp.settings,
        plan: hp.plan,
        suffix: hp.suffix,
        connection: { ...args.connection, host: host.address, ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}) },
        stdin: args.stdin,
        values,
        external: {
          ...args.external,
          ...(host.server ? { server: host.server } : {}),
          ...(first ? { migrations: first.step("app-release") } : {}),
          rollout: hp.switchAfter.map((n) => sites[n - 1].step("app-switch")),
        },
      }),
    );
  }
  return sites;
}
