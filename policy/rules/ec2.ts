/** EC2 instances and EBS volumes: IMDSv2 and encrypted volumes. */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory, show } from "./common";

export type InstanceProps = Unwrap<aws.ec2.InstanceArgs>;
export type EbsVolumeProps = Unwrap<aws.ebs.VolumeArgs>;

// ---------------------------------------------------------------------------------------------
// EC2 instance metadata service: IMDSv2 only, hop limit 1 (AWS FSBP EC2.8).

export function checkInstanceImdsV2(props: InstanceProps, report: Report): void {
  const metadata = props.metadataOptions;
  if (metadata === undefined || metadata === null) {
    report('metadataOptions must be set: httpTokens "required" (IMDSv2) and httpPutResponseHopLimit 1.');
    return;
  }
  if (metadata.httpTokens !== "required") {
    report(`metadataOptions.httpTokens must be "required" (IMDSv2); got ${show(metadata.httpTokens)}.`);
  }
  if (metadata.httpPutResponseHopLimit !== 1) {
    report(
      `metadataOptions.httpPutResponseHopLimit must be 1 so containers on the host cannot reach ` +
        `the metadata service; got ${show(metadata.httpPutResponseHopLimit)}.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Encrypted volumes (AWS FSBP EC2.3: attached EBS volumes are encrypted at rest). Encryption must be
// explicit in the program. EC2.7 is another control: the account's per-region "EBS encryption by
// default" setting (aws.ebs.EncryptionByDefault). It is invisible to a policy on a resource, and a
// volume encrypted only through it would still carry encrypted unset here, so it is no substitute.

export function checkInstanceVolumesEncrypted(props: InstanceProps, report: Report): void {
  const root = props.rootBlockDevice;
  if (root === undefined || root === null) {
    report("rootBlockDevice must be declared with encrypted: true (the root volume is otherwise unencrypted by default).");
  } else if (root.encrypted !== true) {
    report(`rootBlockDevice.encrypted must be true; got ${show(root.encrypted)}.`);
  }
  const ebs = props.ebsBlockDevices ?? [];
  ebs.forEach((device, i) => {
    if (device.encrypted !== true) {
      report(`ebsBlockDevices[${i}] (${device.deviceName}) must have encrypted: true; got ${show(device.encrypted)}.`);
    }
  });
}

export function checkEbsVolumeEncrypted(props: EbsVolumeProps, report: Report): void {
  if (props.encrypted !== true) {
    report(`EBS volumes must have encrypted: true; got ${show(props.encrypted)}.`);
  }
}

export const ec2Policies: ResourceValidationPolicy[] = [
  {
    name: "ec2-instance-imdsv2",
    description: 'EC2 instances require IMDSv2 (metadataOptions.httpTokens "required") with a hop limit of 1 (FSBP EC2.8).',
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ec2.Instance, (props, _args, report) => checkInstanceImdsV2(props, report)),
  },
  {
    name: "ec2-instance-encrypted-volumes",
    description: "EC2 instances declare an encrypted root volume, and every attached EBS block device is encrypted (FSBP EC2.3).",
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ec2.Instance, (props, _args, report) => checkInstanceVolumesEncrypted(props, report)),
  },
  {
    name: "ebs-volume-encrypted",
    description: "Standalone EBS volumes are encrypted (FSBP EC2.3).",
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ebs.Volume, (props, _args, report) => checkEbsVolumeEncrypted(props, report)),
  },
];
