/**
 * The data tier's cross-field rules (database, backups): where DATABASE_URL comes from, and a backup
 * destination that can work on this kind of host. config.ts runs them after the schema; each
 * problem names the setting and the ways out.
 */
import type { RawSettings } from "./config-schema";

const BACKUP_KEYS = [
  "backupSchedule",
  "backupKeep",
  "backupDestination",
  "backupDir",
  "backupBucket",
  "backupS3Endpoint",
  "backupS3Region",
  "backupS3Credentials",
] as const;
const S3_KEYS = ["backupBucket", "backupS3Endpoint", "backupS3Region", "backupS3Credentials"] as const;

/** The database and its backups: where DATABASE_URL comes from, and a backup destination that can work. */
export function dataTierProblems(s: RawSettings, raw: Record<string, string>, describeValue: (k: string) => string): string[] {
  const problems: string[] = [];
  const key = (k: string) => `django-deploy:${k}`;
  const setKeys = (keys: readonly string[]) => keys.filter((k) => k in raw);
  if (s.database === "external" && !("DATABASE_URL" in s.appEnv)) {
    problems.push(
      `${key("database")}: is external (the default), so appEnv must set DATABASE_URL: either pulumi config set --secret --path 'appEnv.DATABASE_URL' 'postgres://…', or set database: host for PostgreSQL on the host`,
    );
  }
  if (s.database === "host" && "DATABASE_URL" in s.appEnv) {
    problems.push(
      `${key("appEnv")}: must not set DATABASE_URL with database: host: the program writes it (remove it from appEnv, or set database: external)`,
    );
  }
  if (s.database !== "host") {
    for (const k of setKeys(BACKUP_KEYS))
      problems.push(`${key(k)}: backups are made of the host's database: set database: host, or remove ${k}`);
    return problems;
  }
  const ec2 = !s.host && !s.hosts;
  if (s.backupDestination === "host") {
    for (const k of setKeys(S3_KEYS)) problems.push(`${key(k)}: only with backupDestination: s3 (it is host)`);
  } else if (ec2) {
    for (const k of setKeys(["backupBucket", "backupS3Endpoint", "backupS3Credentials"])) {
      problems.push(
        `${key(k)}: not for an EC2 host: the program creates the backup bucket and the instance role that writes to it (remove ${k})`,
      );
    }
  } else {
    if (!s.backupBucket)
      problems.push(
        `${key("backupBucket")}: is required for backupDestination: s3 on an existing server: the bucket's name, e.g. example-backups`,
      );
    if (!s.backupS3Credentials) {
      problems.push(
        `${key("backupS3Credentials")}: is required for backupDestination: s3 on an existing server: pulumi config set --secret --path 'backupS3Credentials.accessKeyId' … (and secretAccessKey)`,
      );
    }
  }
  const under = (dir: string, parent: string) => dir === parent || dir.startsWith(`${parent}/`);
  const unsafe = ["/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run", "/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/home"];
  if (under(s.backupDir, s.baseDir) || unsafe.some((d) => under(s.backupDir, d)) || s.backupDir === "/" || under(s.baseDir, s.backupDir)) {
    problems.push(
      `${key("backupDir")}: must be a directory of its own, outside baseDir and system or shared directories (/tmp, /etc, /home, …), such as /var/backups/django-deploy${describeValue("backupDir")}`,
    );
  }
  return problems;
}
