/**
 * What a local site's deploy looks like from the host: the settings the program saw for a run, the
 * deploy state the switch records, and waiting for the switch's finisher. Shared by the real-host
 * tests and the benchmark.
 */
import { parseConfig, Settings } from "../components/config";
import { Slot, layoutOf } from "../components/layout";
import type { LocalSite } from "./local-site";
import { waitFor } from "./hosts/site-checks";

/** A site, or one host of a fleet (sandbox/multi-site.ts) with the fleet's `run`. */
export type SiteHost = Pick<LocalSite, "run" | "host">;

/** Settings exactly as the program saw them for `site.run(overrides)`. */
export function settingsOf(site: Pick<LocalSite, "run">, overrides: Record<string, unknown> = {}): Settings {
  const run = site.run(overrides);
  const raw = Object.fromEntries(Object.entries(run.config).map(([k, v]) => [k.replace(/^django-deploy:/, ""), v]));
  return parseConfig(raw, new Set(run.secretKeys.map((k) => k.replace(/^django-deploy:/, "")))).settings;
}

export interface LiveState {
  slot: Slot;
  commit: string;
  previous: string;
  keep: string[];
}

/** The deploy state the switch records on the host. */
export async function liveState(site: SiteHost): Promise<LiveState> {
  const p = layoutOf(settingsOf(site));
  const [slot, commit] = (await site.host.run(`sudo cat ${p.state}/live`)).trim().split(" ");
  const previous = (await site.host.run(`sudo cat ${p.state}/previous`)).trim();
  const keep = (await site.host.run(`sudo cat ${p.state}/keep`)).trim().split("\n").filter(Boolean);
  return { slot: slot as Slot, commit, previous, keep };
}

/** Wait until no deploy step and no finisher holds the site's lock (the old slot is stopped, pruning done). */
export async function waitForFinisher(site: SiteHost): Promise<void> {
  const p = layoutOf(settingsOf(site));
  await waitFor("the switch's finisher", 120_000, async () => (await site.host.exec(`sudo flock -n ${p.lock} true`)).code === 0);
}
