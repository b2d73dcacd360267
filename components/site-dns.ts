/** DNS for the site (optional): A records for <domain> and www.<domain> in a Route 53 hosted zone. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface SiteDnsArgs {
  zoneId: string;
  domain: string;
  address: pulumi.Input<string>;
}

export class SiteDns extends pulumi.ComponentResource {
  /** The names that resolve to the host once the records exist. */
  public readonly names: pulumi.Output<string[]>;

  constructor(name: string, args: SiteDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:dns:SiteDns", name, {}, opts);
    const record = (suffix: string, fqdn: string) =>
      new aws.route53.Record(
        `${name}-${suffix}`,
        { zoneId: args.zoneId, name: fqdn, type: "A", ttl: 300, records: [args.address], allowOverwrite: true },
        { parent: this },
      );
    const apex = record("apex", args.domain);
    const www = record("www", `www.${args.domain}`);
    this.names = pulumi.all([apex.fqdn, www.fqdn]);
    this.registerOutputs({ names: this.names });
  }
}
