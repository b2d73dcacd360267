/**
 * RDS DB instances (AWS FSBP RDS.2, RDS.3, RDS.5, RDS.8, RDS.11).
 *
 * Multi-AZ and deletion protection are required of protected instances only: Pulumi's `protect`
 * resource option, which the program sets from `django-deploy:protect` (true on prod). A staging
 * database may be single-AZ and deletable; the production one may not.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationArgs, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory, show } from "./common";

export type DbInstanceProps = Unwrap<aws.rds.InstanceArgs>;
type Opts = Pick<ResourceValidationArgs, "opts">;

/** Days of automated backups FSBP RDS.11 requires at least. */
export const MIN_BACKUP_RETENTION_DAYS = 7;

export function checkDbNotPublic(props: DbInstanceProps, report: Report): void {
  // Unset is false: the provider creates instances without a public address unless asked.
  if (props.publiclyAccessible === true) {
    report("RDS instances must not be publicly accessible (publiclyAccessible: false) (FSBP RDS.2); got true.");
  }
}

export function checkDbStorageEncrypted(props: DbInstanceProps, report: Report): void {
  if (props.storageEncrypted !== true) {
    report(`RDS instances must have storageEncrypted: true (FSBP RDS.3); got ${show(props.storageEncrypted)}.`);
  }
}

export function checkDbMultiAz(props: DbInstanceProps, args: Opts, report: Report): void {
  if (args.opts.protect && props.multiAz !== true) {
    report(
      `a protected RDS instance (Pulumi protect, from django-deploy:protect) must be Multi-AZ (multiAz: true) (FSBP RDS.5); ` +
        `got ${show(props.multiAz)}.`,
    );
  }
}

export function checkDbDeletionProtection(props: DbInstanceProps, args: Opts, report: Report): void {
  if (args.opts.protect && props.deletionProtection !== true) {
    report(
      `a protected RDS instance (Pulumi protect, from django-deploy:protect) must have deletionProtection: true (FSBP RDS.8); ` +
        `got ${show(props.deletionProtection)}.`,
    );
  }
}

export function checkDbBackupRetention(props: DbInstanceProps, report: Report): void {
  const days = props.backupRetentionPeriod;
  if (typeof days === "number" && days >= MIN_BACKUP_RETENTION_DAYS) return;
  // A read replica's backups are its source's. Read only now: the source may be unknown in preview.
  if (typeof props.replicateSourceDb === "string" && props.replicateSourceDb !== "") return;
  report(
    `RDS instances must keep automated backups at least ${MIN_BACKUP_RETENTION_DAYS} days ` +
      `(backupRetentionPeriod >= ${MIN_BACKUP_RETENTION_DAYS}; AWS keeps 1 day when unset) (FSBP RDS.11); got ${show(days)}.`,
  );
}

const dbPolicy = (
  name: string,
  description: string,
  check: (props: DbInstanceProps, args: ResourceValidationArgs, report: Report) => void,
): ResourceValidationPolicy => ({
  name,
  description,
  enforcementLevel: mandatory,
  severity: "high",
  validateResource: validateResourceOfType(aws.rds.Instance, check),
});

export const rdsPolicies: ResourceValidationPolicy[] = [
  dbPolicy("rds-not-publicly-accessible", "RDS instances are not publicly accessible (FSBP RDS.2).", (p, _a, r) => checkDbNotPublic(p, r)),
  dbPolicy("rds-storage-encrypted", "RDS instances encrypt their storage at rest (FSBP RDS.3).", (p, _a, r) =>
    checkDbStorageEncrypted(p, r),
  ),
  dbPolicy("rds-multi-az-when-protected", "RDS instances with Pulumi's protect option (prod) are Multi-AZ (FSBP RDS.5).", checkDbMultiAz),
  dbPolicy(
    "rds-deletion-protection-when-protected",
    "RDS instances with Pulumi's protect option (prod) have AWS deletion protection (FSBP RDS.8).",
    checkDbDeletionProtection,
  ),
  dbPolicy(
    "rds-backup-retention",
    `RDS instances keep automated backups for at least ${MIN_BACKUP_RETENTION_DAYS} days; read replicas excepted (FSBP RDS.11).`,
    (p, _a, r) => checkDbBackupRetention(p, r),
  ),
];
