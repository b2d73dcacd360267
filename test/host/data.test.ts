/**
 * The data tier on a real host (database: host): PostgreSQL from Debian beside the app, the password
 * in no log, command or output; data written through the site survives a backup, its destruction and
 * a restore — with backups on the host and in S3 (s3rver on the gateway, started here); a destructive
 * migration is preceded by a backup that brings the old data back; PostgreSQL killed, or the host
 * rebooted, and the site recovers; a backup that cannot be written fails visibly and leaves the older
 * ones as they were. Needs root; one host (index 100); the tests run in order.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { apply } from "../../sandbox/runner";
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { layoutOf } from "../../components/layout";
import { loadState } from "../../sandbox/state";
import { request, tempFile, waitFor } from "../../sandbox/hosts/site-checks";
import { MIN, names, settingsOf, waitForFinisher } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no typings
const S3rver = require("s3rver") as new (o: Record<string, unknown>) => { run(): Promise<unknown>; close(): Promise<void> };

const WWW = "https://www.example.com";
const S3_PORT = 4568;
const BUCKET = "example-backups";
let site: LocalSite;
let rootCa: string;
let s3: { close(): Promise<void> } | undefined;
let s3Dir = "";

const p = () => layoutOf(settingsOf(site));
const sh = (cmd: string) => site.host.run(cmd);
const get = (url: string) => request(site.host, `${WWW}${url}`, { caFile: rootCa });
const notes = async () => (await get("/notes")).body;
/** SQL as the postgres superuser on the site's database (on standard input). */
const psql = (sql: string) => site.host.run("sudo -u postgres psql -X -q -tA -v ON_ERROR_STOP=1 -d django", { stdin: sql });
const addNote = async (title: string, body = "") => {
  const r = await request(site.host, `${WWW}/notes/new`, { caFile: rootCa, form: { title, body } });
  expect([r.status, r.body]).toEqual([200, expect.stringContaining(title)]);
};
const upload = async (name: string, content: string) => {
  const file = tempFile(name, content);
  const r = await request(site.host, `${WWW}/upload`, { caFile: rootCa, form: { file: `@${file}` } });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { url: string }).url;
};
/** Run the backup command; its last line says `backup NAME (BYTES bytes, SECONDS s)`. */
async function backup(): Promise<{ name: string; seconds: number }> {
  const out = await sh(`sudo ${p().backupCommand} 2>&1`);
  const m = /backup (\S+) \((\d+) bytes, ([\d.]+) s\)\s*$/.exec(out);
  if (!m) throw new Error(`unexpected backup output: ${out}`);
  console.log(`backup ${m[1]}: ${m[2]} bytes in ${m[3]} s`);
  return { name: m[1], seconds: Number(m[3]) };
}
async function restore(name: string): Promise<string> {
  const out = await sh(`sudo ${p().restoreCommand} ${name} --yes 2>&1`);
  console.log(out.trim());
  return out;
}
const list = async () => {
  const r = await site.host.exec(`sudo ${p().restoreCommand} --list`);
  if (r.code !== 0 || r.stderr) console.log(`restore --list: exit ${r.code}, ${r.stderr}`);
  return r.stdout.trim().split("\n").filter(Boolean);
};
/** The backups' checksums (the glob is root's to expand: the directory is 0700). */
const checksums = () => sh(`sudo sh -c 'sha256sum ${p().backups}/*.backup'`);
const password = () => {
  const pw = loadState(site.run().statePath).resources.find((r) => r.type.startsWith("random:"))?.outputs?.result;
  if (typeof pw !== "string" || pw.length < 20) throw new Error("no generated password in the state");
  return pw;
};
const S3 = () => ({
  backupDestination: "s3",
  backupBucket: BUCKET,
  backupS3Endpoint: `http://${site.host.gateway}:${S3_PORT}`,
  backupS3Credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
});

beforeAll(async () => {
  site = await startLocalSite({ index: 100, name: "data" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
  const t0 = Date.now();
  const first = await apply(site.run({ repoRef: "v1" }));
  if (first.error) throw new Error(first.error);
  console.log(`fresh-host deploy with PostgreSQL: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}, 20 * MIN);

afterAll(async () => {
  await s3?.close().catch(() => undefined);
  if (s3Dir) fs.rmSync(s3Dir, { recursive: true, force: true });
  await site?.stop();
}, 2 * MIN);

describe("database: host", () => {
  test("migrations ran against PostgreSQL, the notes view lists the fixture, check --deploy is clean, nothing listens on TCP", async () => {
    expect(Number(await psql("select count(*) from django_migrations where app = 'notes'"))).toBeGreaterThan(0);
    expect(await notes()).toContain("Welcome to example.com");
    const check = await site.host.exec(
      `cd ${p().current}/example-django && sudo -u django ${p().runinenv} python manage.py check --deploy --fail-level WARNING`,
    );
    expect([check.code, check.stderr]).toEqual([0, ""]);
    expect(await sh("sudo ss -ltnH")).not.toMatch(/:5432\b/);
    expect(
      await sh(
        `sudo -u postgres psql -X -tA -c "select rolpassword like 'SCRAM-SHA-256\\$4096:%' from pg_authid where rolname = 'django'"`,
      ),
    ).toBe("t\n");
  });

  test("the password appears in no log, command or output (it is in .server.envrc, root:django 0640)", async () => {
    const pw = password();
    const log = fs.readFileSync(site.run().logPath!, "utf8");
    expect(log.includes(pw)).toBe(false);
    for (const r of loadState(site.run().statePath).resources.filter((x) => x.type.startsWith("command:"))) {
      expect([r.name, [r.inputs.create, r.stdout, r.stderr].some((v) => String(v).includes(pw))]).toEqual([r.name, false]);
    }
    // The password goes to grep on stdin: on a command line it would land in sudo's journal lines.
    const grep = (args: string) => site.host.exec(`sudo grep ${args}`, { stdin: `${pw}\n` });
    const hits = await grep("-rlF -f /dev/stdin /var/log /srv/www/example.com/logs /var/lib/django-deploy /var/backups /etc");
    expect(hits.stdout.trim().split("\n").filter(Boolean)).toEqual([]);
    expect((await grep(`-cF -f /dev/stdin ${p().envrc}`)).stdout).toBe("1\n");
  });

  test(
    "a second apply runs nothing; another setting re-runs its own step and never restarts PostgreSQL",
    async () => {
      const pid = async () => (await sh("systemctl show -p MainPID --value postgresql@15-main")).trim();
      const before = await pid();
      expect(names(await apply(site.run({ repoRef: "v1" })))).toEqual([]);
      const r = await apply(site.run({ repoRef: "v1", clientMaxBodySize: "50M", backupKeep: 5 }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["data-backup", "web-nginx-site"]);
      expect(await pid()).toBe(before);
    },
    10 * MIN,
  );
});

describe("backups and restores", () => {
  test(
    "data written through the site, backed up, destroyed, restored: back, and served",
    async () => {
      await addNote("written-before-backup", "kept by the backup");
      const url = await upload("photo.txt", "media kept by the backup\n");
      const { name } = await backup();
      expect(await list()).toContainEqual(expect.stringMatching(new RegExp(`^${name}\\t\\d+\\thost$`)));
      expect(await sh(`sudo stat -c '%a %U' ${p().backups} ${p().backups}/${name}.backup`)).toBe("700 root\n600 root\n");
      await psql("delete from notes_note");
      await sh(`sudo -u django find ${p().media} -mindepth 1 -delete`);
      expect(await notes()).not.toContain("written-before-backup");
      expect((await get(url)).status).toBe(404);
      // Without the confirmation nothing happens.
      expect((await site.host.exec(`sudo ${p().restoreCommand} ${name}`)).code).toBe(64);
      await restore(name);
      expect(await notes()).toContain("kept by the backup");
      expect((await get(url)).body).toBe("media kept by the backup\n");
    },
    5 * MIN,
  );

  test(
    "a release with a destructive migration: the backup made before it brings the dropped data back",
    async () => {
      await addNote("precious", "a body the next release drops");
      const r = await apply(site.run({ repoRef: "destructive-migration", backupKeep: 5 }));
      expect(r.error).toBeUndefined();
      const commit = site.repos.parentCommits["destructive-migration"].slice(0, 12);
      const pre = (await list()).map((l) => l.split("\t")[0]).find((n) => n.endsWith(`-${commit}-pre-migrate`));
      expect(pre).toBeDefined();
      expect(await psql("select count(*) from information_schema.columns where table_name = 'notes_note' and column_name = 'body'")).toBe(
        "0\n",
      );
      await restore(pre!);
      expect(await psql("select body from notes_note where title = 'precious'")).toBe("a body the next release drops\n");
      // Back to v1 (kept: only the switch runs), whose model has the body again.
      expect((await apply(site.run({ repoRef: "v1", backupKeep: 5 }))).error).toBeUndefined();
      expect(await notes()).toContain("a body the next release drops");
    },
    10 * MIN,
  );
});

describe("PostgreSQL comes back", () => {
  test(
    "killed: systemd starts it again and the site recovers",
    async () => {
      const pid = (await sh("systemctl show -p MainPID --value postgresql@15-main")).trim();
      await sh(`sudo kill -KILL ${pid}`);
      await waitFor("PostgreSQL restarted", 60_000, async () => {
        const now = (await sh("systemctl show -p MainPID --value postgresql@15-main")).trim();
        return now !== "0" && now !== pid && (await site.host.exec("sudo -u postgres psql -X -tAc 'select 1'")).code === 0;
      });
      await waitFor("the notes view", 60_000, async () => (await get("/notes")).status === 200);
      expect(await notes()).toContain("precious");
    },
    5 * MIN,
  );

  test(
    "the host rebooted: PostgreSQL, the site and the data are back",
    async () => {
      await site.host.reboot();
      await waitFor(
        "the notes view after a reboot",
        120_000,
        async () => (await get("/notes").catch(() => ({ status: 0 }))).status === 200,
      );
      expect(await notes()).toContain("precious");
    },
    10 * MIN,
  );
});

describe("a backup that cannot be written", () => {
  test(
    "fails visibly (exit code, systemctl --failed, the journal) and leaves the older backups intact",
    async () => {
      const before = await checksums();
      await sh(`sudo chattr +i ${p().backups}`);
      try {
        const r = await site.host.exec(`sudo ${p().backupCommand}`);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/example-com-backup: backup failed: cannot write in/);
        const unit = `${p().backupUnit}.service`;
        expect((await site.host.exec(`sudo systemctl start ${unit}`)).code).not.toBe(0);
        expect(await sh("systemctl --failed --no-legend --plain")).toContain(unit);
        expect(await sh(`sudo journalctl -u ${unit} --no-pager -n 20`)).toMatch(/backup failed/);
      } finally {
        await sh(`sudo chattr -i ${p().backups}`);
        await site.host.exec(`sudo systemctl reset-failed ${p().backupUnit}.service`);
      }
      expect(await checksums()).toBe(before);
      expect(await sh(`sudo find ${p().backups} -name '.tmp-*'`)).toBe("");
    },
    5 * MIN,
  );

  test("the timer is scheduled (backupSchedule: daily)", async () => {
    expect(await sh(`systemctl is-enabled ${p().backupUnit}.timer`)).toBe("enabled\n");
    expect(await sh(`systemctl show -p TimersCalendar --value ${p().backupUnit}.timer`)).toMatch(/OnCalendar=\*-\*-\* 00:00:00/);
  });
});

describe("backups in S3 (s3rver on the gateway)", () => {
  test(
    "backed up to the bucket, the local copy gone, the data destroyed: restored from S3",
    async () => {
      s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), "data-s3rver-"));
      const server = new S3rver({
        address: site.host.gateway,
        port: S3_PORT,
        directory: s3Dir,
        silent: true,
        configureBuckets: [{ name: BUCKET }],
      });
      await server.run();
      s3 = server;
      const r = await apply(site.run({ repoRef: "v1", ...S3() }));
      expect(r.error).toBeUndefined();
      await waitForFinisher(site);
      await addNote("written-before-s3-backup", "kept in S3");
      const { name } = await backup();
      const stored = fs.readdirSync(path.join(s3Dir, BUCKET), { recursive: true }).map(String);
      expect(stored).toContainEqual(expect.stringContaining(`${name}.backup`));
      expect(await list()).toContainEqual(expect.stringMatching(new RegExp(`^${name}\\t\\d+\\ts3$`)));
      await sh(`sudo rm ${p().backups}/${name}.backup`);
      await psql("delete from notes_note");
      expect(await notes()).not.toContain("written-before-s3-backup");
      await restore(name);
      expect(await notes()).toContain("kept in S3");
    },
    15 * MIN,
  );

  test(
    "S3 unreachable: the backup fails visibly, no local copy is left, the older ones are intact",
    async () => {
      const before = await list();
      await s3!.close();
      s3 = undefined;
      const r = await site.host.exec(`sudo ${p().backupCommand}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/backup failed: upload to s3:\/\/example-backups\/example.com\/.* failed/);
      expect((await sh(`sudo ls ${p().backups}`)).split("\n").filter((f) => f.endsWith(".backup")).length).toBe(
        before.filter((l) => l.endsWith("\thost")).length,
      );
    },
    5 * MIN,
  );
});
