/**
 * The data-tier figures of `npm run bench` (database: host, the sandbox's setting): on a site
 * serving the sample, with a few hundred notes and a media file added through the site, the wall
 * time of the backup command (pg_dump -Fc + media tarball, written aside and renamed) and of the
 * restore command (programs stopped, database dropped and restored, media replaced, programs
 * started), each as its own output reports it and as seen over SSH.
 */
import type { LocalSite } from "../sandbox/local-site";
import { request, tempFile } from "../sandbox/hosts/site-checks";
import { layoutOf } from "../components/layout";
import { settingsOf } from "../sandbox/site-state";

const NOTES = 300;
const MEDIA_BYTES = 2 * 1024 * 1024;

export async function dataTable(site: LocalSite, rootCa: string): Promise<string> {
  const p = layoutOf(settingsOf(site));
  const www = "https://www.example.com";
  const values = Array.from({ length: NOTES }, (_, i) => `('bench note ${i}', '${"x".repeat(200)}', now())`).join(",");
  await site.host.run("sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -d django", {
    stdin: `insert into notes_note (title, body, created_at) values ${values};`,
  });
  const file = tempFile("bench-media.bin", "m".repeat(MEDIA_BYTES));
  const up = await request(site.host, `${www}/upload`, { caFile: rootCa, form: { file: `@${file}` } });
  if (up.status !== 200) throw new Error(`upload failed: ${up.status}`);
  const timed = async (cmd: string) => {
    const t0 = Date.now();
    const out = await site.host.run(`sudo ${cmd} 2>&1`);
    return { out: out.trim().split("\n").pop() ?? "", ms: Date.now() - t0 };
  };
  const b = await timed(p.backupCommand);
  const name = /^backup (\S+) \((\d+) bytes, ([\d.]+) s\)$/.exec(b.out);
  if (!name) throw new Error(`unexpected backup output: ${b.out}`);
  const r = await timed(`${p.restoreCommand} ${name[1]} --yes`);
  const restored = /\(([\d.]+) s\)/.exec(r.out);
  const back = await request(site.host, `${www}/notes`, { caFile: rootCa });
  if (!back.body.includes(`bench note ${NOTES - 1}`)) throw new Error("the restored site does not list the notes");
  return [
    `Data: ${NOTES} extra notes, one ${MEDIA_BYTES / 1024 / 1024} MiB media file; backup ${name[2]} bytes.`,
    "| command | its own time | over SSH |",
    "| --- | --- | --- |",
    `| backup (pg_dump -Fc + media tarball) | ${name[3]} s | ${(b.ms / 1000).toFixed(2)} s |`,
    `| restore (programs stopped, database and media replaced, started) | ${restored?.[1] ?? "?"} s | ${(r.ms / 1000).toFixed(2)} s |`,
  ].join("\n");
}
