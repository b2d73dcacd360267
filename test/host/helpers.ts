/**
 * What the real-host suites share: the managed-file check, and (from sandbox/site-state.ts) the
 * settings a local site's run gives the program, the host's deploy state and the switch's finisher.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RenderedHostFile, renderHostFiles } from "../../components/host-files";
import { HostFileName, Slot, layoutOf } from "../../components/layout";
import { stepPlan } from "../../components/plan";
import { FILES_DIR } from "../../components/templates";
import type { LocalSite } from "../../sandbox/local-site";
import type { ApplyResult } from "../../sandbox/runner";
import { liveState, settingsOf, waitForFinisher } from "../../sandbox/site-state";

export { liveState, settingsOf, waitForFinisher };
export type { LiveState } from "../../sandbox/site-state";

export const MIN = 60_000;

export const names = (r: ApplyResult) => r.executed.map((e) => e.name).sort();

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

/**
 * A copy of files/ with some templates' text changed (every occurrence of `from`) or replaced whole:
 * the sandbox renders from it (StackRun.filesDir), the program never does.
 */
export function changedFiles(changes: Record<string, { from: string; to: string } | string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "django-deploy-changed-files-"));
  fs.cpSync(FILES_DIR, dir, { recursive: true });
  for (const [template, change] of Object.entries(changes)) {
    const file = path.join(dir, template);
    const text = fs.readFileSync(file, "utf8");
    if (typeof change === "string") fs.writeFileSync(file, change);
    else {
      if (!text.includes(change.from)) throw new Error(`${template} has no ${change.from}`);
      fs.writeFileSync(file, text.replaceAll(change.from, change.to));
    }
  }
  return dir;
}
