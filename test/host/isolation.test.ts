/**
 * The app user cannot make root write anywhere. On a deployed host, the app user (as an attacker who
 * owns the app would) plants a symlink under every name root might use in every directory it can
 * write — the names the program's layout knows, the usual ones, and every entry there that is not
 * its own — each pointing at a file of its own in /etc/cron.d. Then a deploy with new settings and a
 * new release, every program killed (supervisord restarts them, opening their logs again),
 * supervisord and nginx restarted: not one of those files exists afterwards, and the site serves the
 * new release. Needs root; one host (index 73).
 */
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { apply } from "../../sandbox/runner";
import { layoutOf } from "../../components/layout";
import { versionText } from "../../sandbox/sample/repos";
import { programs, request, tempFile, waitFor } from "../../sandbox/hosts/site-checks";
import { MIN, liveState, settingsOf, waitForFinisher } from "./helpers";

let site: LocalSite;
let rootCa: string;
const sh = (cmd: string) => site.host.run(cmd);
const p = () => layoutOf(settingsOf(site));
const TARGET = "/etc/cron.d/ddpwn";

beforeAll(async () => {
  site = await startLocalSite({ index: 73, name: "isolation" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
  const first = await apply(site.run({ repoRef: "v1" }));
  if (first.error) throw new Error(first.error);
}, 20 * MIN);

afterAll(async () => {
  await site?.stop();
}, 2 * MIN);

/** Names root could plausibly write in a directory: the layout's file names and the usual suspects. */
function candidateNames(): string[] {
  const layout = p();
  const fromLayout = Object.values(layout.files).map((f) => f.path.split("/").pop() as string);
  const programs = ["web-a", "web-b", "celery-a", "celery-b", "beat"];
  return [
    ...new Set([
      ...fromLayout,
      ...programs.flatMap((n) => [`${n}.log`, `${n}.log.1`, `${n}.sock`, `${n}.pid`]),
      ...["supervisor.sock", "supervisord.log", "supervisord.pid", "gunicorn-access.log", "celerybeat-schedule"],
      ...["live", "live.tmp", "previous", "previous.tmp", "keep", "keep.tmp", "history", "history.tmp"],
      ...["rollback.log", "finisher.log", "beat.conf.before", ".envrc.applied", "static", "CACHE", "current", "live.sock"],
      ...[".ssh", "authorized_keys", ".bashrc", ".profile", ".cache", ".config", "pip", ".gitconfig", ".git-credentials"],
    ]),
  ];
}

test(
  "symlinks planted by the app user in every directory it can write lead nowhere: a deploy, killed programs and restarts write through none",
  async () => {
    await waitForFinisher(site);
    const names = candidateNames();
    // As the app user: for every directory it can write, every candidate name and every entry that is
    // not its own becomes a symlink to a file of its own choosing (its own files it leaves: breaking
    // them breaks only its own app).
    const script = `#!/bin/bash
      set -u
      i=0
      while IFS= read -r d; do
        for n in ${names.map((n) => `'${n}'`).join(" ")} $(find "$d" -mindepth 1 -maxdepth 1 ! -user django -printf '%f\\n' 2>/dev/null); do
          if [ -e "$d/$n" ] && [ ! -L "$d/$n" ] && [ "$(stat -c %U "$d/$n")" = django ]; then continue; fi
          i=$((i + 1))
          rm -rf -- "$d/$n" 2>/dev/null
          ln -s "${TARGET}-$i" "$d/$n" 2>/dev/null && echo "$d/$n"
        done
      done < <(find / \\( -path /proc -o -path /sys \\) -prune -o -type d -writable -print 2>/dev/null)
    `;
    await site.host.writeFile("/usr/local/lib/plant.sh", script, { mode: "0644" });
    const planted = (await sh("sudo -u django bash /usr/local/lib/plant.sh")).trim().split("\n").filter(Boolean);
    const layout = p();
    // Every directory the app must write was planted in.
    for (const dir of [layout.media, layout.var, layout.logs, layout.run, "/home/django"]) {
      expect({ dir, planted: planted.some((f) => f.startsWith(`${dir}/`)) }).toEqual({ dir, planted: true });
    }
    expect(planted.length).toBeGreaterThan(100);

    // A deploy with new settings (a secret and a public one) and a new release.
    const appEnv = { ...site.appEnv, DEPLOY_NOTE: "after-the-plant" };
    const r = await apply(site.run({ repoRef: "v2", appEnv, healthCheckTimeout: 45 }));
    expect(r.error).toBeUndefined();
    await waitForFinisher(site);
    expect((await liveState(site)).commit).toBe(site.repos.parentCommits.v2);

    // Every program killed: supervisord starts each again (and opens its log again, as root).
    const before = await programs(site.host);
    for (const name of Object.keys(before)) await sh(`sudo supervisorctl signal KILL example-com-${name}`);
    await waitFor("every program running again under a new pid", 60_000, async () => {
      const now = await programs(site.host);
      return Object.entries(before).every(([n, x]) => now[n]?.state === "RUNNING" && now[n].pid !== x.pid);
    });
    // supervisord and nginx restarted: they open their sockets, pid files and logs again.
    await sh("sudo systemctl restart supervisor nginx");
    await waitFor("the site after the restarts", 60_000, async () => {
      const res = await request(site.host, "https://www.example.com/version", { caFile: rootCa });
      return res.status === 200 && res.body.trim() === versionText("v2");
    });

    // Not one planted symlink was written through.
    expect(await sh(`sudo find / \\( -path /proc -o -path /sys \\) -prune -o -path '${TARGET}-*' -print 2>/dev/null || true`)).toBe("");
  },
  15 * MIN,
);
