/**
 * What the real-host suites share: the settings a local site's run gives the program, the host's
 * deploy state, the managed-file check, and waiting for the switch's finisher.
 */
import { parseConfig, Settings } from "../../components/config";
import { RenderedHostFile, renderHostFiles } from "../../components/host-files";
import { HostFileName, Slot, layoutOf } from "../../components/layout";
import { stepPlan } from "../../components/plan";
import type { LocalSite } from "../../sandbox/local-site";
import type { ApplyResult } from "../../sandbox/runner";
import { waitFor } from "../../sandbox/hosts/site-checks";

export const MIN = 60_000;

export const names = (r: ApplyResult) => r.executed.map((e) => e.name).sort();

/** Settings exactly as the program saw them for `site.run(overrides)`. */
export function settingsOf(site: LocalSite, overrides: Record<string, unknown> = {}): Settings {
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
export async function liveState(site: LocalSite): Promise<LiveState> {
  const p = layoutOf(settingsOf(site));
  const [slot, commit] = (await site.host.run(`sudo cat ${p.state}/live`)).trim().split(" ");
  const previous = (await site.host.run(`sudo cat ${p.state}/previous`)).trim();
  const keep = (await site.host.run(`sudo cat ${p.state}/keep`)).trim().split("\n").filter(Boolean);
  return { slot: slot as Slot, commit, previous, keep };
}

/** Wait until no deploy step and no finisher holds the site's lock (the old slot is stopped, pruning done). */
export async function waitForFinisher(site: LocalSite): Promise<void> {
  const p = layoutOf(settingsOf(site));
  await waitFor("the switch's finisher", 120_000, async () => (await site.host.exec(`sudo flock -n ${p.lock} true`)).code === 0);
}

/** The files of a slot that this settings' plan installs (the other slot's are removed by the finisher). */
function slotFiles(slot: Slot, celery: boolean): HostFileName[] {
  return [
    `gunicorn-${slot}.conf.py`,
    `supervisor-web-${slot}.conf`,
    ...(celery ? [`supervisor-celery-${slot}.conf`, "supervisor-beat.conf"] : []),
  ] as HostFileName[];
}

/**
 * Every rendered file the plan installs is on the host byte for byte, with the layout's mode and
 * owner; the live slot's program files name the live release; the idle slot has none.
 */
export async function expectHostFilesRendered(site: LocalSite, overrides: Record<string, unknown> = {}): Promise<void> {
  await waitForFinisher(site);
  const s = settingsOf(site, overrides);
  const live = await liveState(site);
  const files = renderHostFiles(s, { commit: live.commit });
  const p = layoutOf(s);
  const idle: Slot = live.slot === "a" ? "b" : "a";
  const perSlot = new Set<HostFileName>([...slotFiles("a", !!s.celeryApp), ...slotFiles("b", !!s.celeryApp)]);
  const installed = stepPlan(s)
    .flatMap((st) => st.installs.filter((n): n is RenderedHostFile => n in files))
    // The ACME bootstrap is replaced by the site at the same path once a certificate exists.
    .filter((n) => n !== "acme-bootstrap.conf" && (!perSlot.has(n) || slotFiles(live.slot, !!s.celeryApp).includes(n)));
  for (const name of installed) {
    const { path, mode, owner } = p.files[name];
    expect({ name, content: await site.host.run(`sudo cat ${path}`) }).toEqual({ name, content: files[name] });
    expect({ name, stat: await site.host.run(`sudo stat -c '%a %U:%G' ${path}`) }).toEqual({
      name,
      stat: `${mode.replace(/^0/, "")} ${owner}\n`,
    });
  }
  for (const name of slotFiles(idle, !!s.celeryApp).filter((n) => n !== "supervisor-beat.conf")) {
    expect({ name, exists: (await site.host.exec(`sudo test -e ${p.files[name].path}`)).code === 0 }).toEqual({ name, exists: false });
  }
}
