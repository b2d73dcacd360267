/**
 * The site's front door when it runs on several hosts: an internet-facing Application Load
 * Balancer in the public subnets, with an ACM certificate for <domain> and www.<domain>
 * (DNS-validated in the Route 53 zone), HTTP → HTTPS and apex → www redirects (301), a target group
 * the app hosts register with (AppHosts does, given `targetGroupArn`), and alias records for both
 * names.
 *
 * Ordering matters twice: the HTTPS listener waits for the certificate's validation (not just the
 * certificate, which exists while still pending: pulumi-awsx#1242), and the load balancer waits for
 * the subnets' routes to the internet gateway (Network's subnet ids carry that dependency).
 *
 * Health checks: an ALB health check cannot set a Host header. It arrives as `GET <path>` with
 * `Host: <the target's private IPv4 address>` (":<port>" appended when the port is not 80) and
 * `User-Agent: ELB-HealthChecker/2.0`, from the load balancer's own addresses in the VPC. Django
 * would refuse that Host (DisallowedHost, 400) unless ALLOWED_HOSTS listed every private address:
 * nginx on the hosts must answer the health path itself, for any Host, before Django's vhost.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { Tags, named, requireDnsLabel, worldTcp } from "./common";

/** ELB.17: TLS 1.3, and TLS 1.2 with forward-secret AEAD ciphers only. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06";

/**
 * Seconds a deregistering host keeps its in-flight requests (AWS default 300). The host is
 * drained before Gunicorn stops: Gunicorn's graceful_timeout is 30 s, the longest a request may
 * still run once a stop begins; 15 s more covers the load balancer nodes noticing the
 * deregistration and nginx's last responses. Longer only slows every rolling release down.
 */
export const DEREGISTRATION_DELAY_SECONDS = 45;

export interface LoadBalancerArgs {
  vpcId: pulumi.Input<string>;
  /** The VPC's IPv4 block: the load balancer may only send to port 80 inside it. */
  vpcCidrBlock: pulumi.Input<string>;
  /** Public subnets in at least two Availability Zones (FSBP ELB.13). */
  subnetIds: pulumi.Input<string>[];
  /** Dual stack (A and AAAA records); the subnets must have IPv6 blocks (Network with ipv6). */
  ipv6: boolean;
  /** The site's apex name; www.<domain> is the canonical one. */
  domain: string;
  /** The Route 53 hosted zone of `domain`. */
  zoneId: pulumi.Input<string>;
  /** The path the hosts' nginx answers for health checks, e.g. "/healthz". */
  healthCheckPath: string;
  /** Pulumi `protect` and AWS deletion protection (FSBP ELB.6) on the load balancer. */
  protect: boolean;
  tags: Tags;
}

/** 301 to HTTPS on 443, host, path and query kept. */
export const HTTPS_REDIRECT = { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } };

/** 301 from the apex to https://www.<domain>, path and query kept. */
export function wwwRedirect(domain: string) {
  return {
    type: "redirect",
    redirect: { protocol: "HTTPS", port: "443", host: `www.${domain}`, path: "/#{path}", query: "#{query}", statusCode: "HTTP_301" },
  };
}

/** The target group's health check: quick to take a host out (30 s), quick to bring it back (20 s). */
export function healthCheck(path: string) {
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(path))
    throw new Error(`healthCheckPath ${JSON.stringify(path)}: expected an absolute URL path such as /healthz`);
  return {
    enabled: true,
    protocol: "HTTP",
    port: "traffic-port",
    path,
    matcher: "200",
    interval: 10,
    timeout: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  };
}

/** A DNS name Route 53 and ACM accept: lower case labels, at least two. */
export function requireDomain(domain: string): void {
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
  const labels = domain.split(".");
  if (labels.length < 2 || !labels.every((l) => label.test(l)) || domain.length > 253 - "www.".length) {
    throw new Error(`domain ${JSON.stringify(domain)}: expected a lower case DNS name such as example.com`);
  }
}

export class LoadBalancer extends pulumi.ComponentResource {
  public readonly dnsName: pulumi.Output<string>;
  /** The load balancer's canonical hosted zone (for alias records elsewhere). */
  public readonly zoneId: pulumi.Output<string>;
  public readonly arn: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;
  public readonly targetGroupArn: pulumi.Output<string>;
  public readonly httpsListenerArn: pulumi.Output<string>;
  public readonly httpListenerArn: pulumi.Output<string>;
  public readonly certificateArn: pulumi.Output<string>;
  /** The names served: [<domain>, www.<domain>]. */
  public readonly names: string[];

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:LoadBalancer", name, {}, opts);
    requireDnsLabel("LoadBalancer", name);
    requireDomain(args.domain);
    const check = healthCheck(args.healthCheckPath);
    if (args.subnetIds.length < 2)
      throw new Error("subnetIds: a load balancer needs subnets in at least 2 Availability Zones (FSBP ELB.13)");
    const parent = { parent: this };
    const names = [args.domain, `www.${args.domain}`];

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `django-deploy ${name}: HTTP and HTTPS from anywhere; out only to port 80 in the VPC`,
        ingress: [worldTcp(80, "http"), worldTcp(443, "https")],
        egress: [{ protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: [args.vpcCidrBlock], description: "to the app hosts" }],
        tags: named(args.tags, `${name}-sg`),
      },
      parent,
    );

    const alb = new aws.lb.LoadBalancer(
      `${name}-alb`,
      {
        loadBalancerType: "application",
        internal: false,
        ipAddressType: args.ipv6 ? "dualstack" : "ipv4",
        subnets: args.subnetIds,
        securityGroups: [sg.id],
        dropInvalidHeaderFields: true,
        enableDeletionProtection: args.protect,
        tags: named(args.tags, `${name}-alb`),
      },
      { parent: this, protect: args.protect },
    );

    const targets = new aws.lb.TargetGroup(
      `${name}-tg`,
      {
        vpcId: args.vpcId,
        targetType: "instance",
        protocol: "HTTP",
        port: 80,
        deregistrationDelay: DEREGISTRATION_DELAY_SECONDS,
        healthCheck: check,
        tags: named(args.tags, `${name}-tg`),
      },
      parent,
    );

    const certificate = new aws.acm.Certificate(
      `${name}-cert`,
      {
        domainName: names[0],
        subjectAlternativeNames: [names[1]],
        validationMethod: "DNS",
        keyAlgorithm: "RSA_2048",
        tags: named(args.tags, `${name}-cert`),
      },
      { parent: this },
    );
    const validationRecords = names.map((fqdn, i) => {
      const option = certificate.domainValidationOptions.apply((options) => {
        const found = options.find((o) => o.domainName === fqdn);
        if (!found) throw new Error(`ACM gave no DNS validation record for ${fqdn}`);
        return found;
      });
      return new aws.route53.Record(
        `${name}-validation-${i}`,
        {
          zoneId: args.zoneId,
          name: option.resourceRecordName,
          type: option.resourceRecordType,
          records: [option.resourceRecordValue],
          ttl: 60,
          allowOverwrite: true,
        },
        parent,
      );
    });
    const validation = new aws.acm.CertificateValidation(
      `${name}-cert-validation`,
      { certificateArn: certificate.arn, validationRecordFqdns: validationRecords.map((r) => r.fqdn) },
      parent,
    );

    const https = new aws.lb.Listener(
      `${name}-https`,
      {
        loadBalancerArn: alb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: TLS_POLICY,
        certificateArn: validation.certificateArn,
        defaultActions: [{ type: "forward", targetGroupArn: targets.arn }],
        tags: named(args.tags, `${name}-https`),
      },
      { parent: this, dependsOn: [validation] },
    );
    const http = new aws.lb.Listener(
      `${name}-http`,
      { loadBalancerArn: alb.arn, port: 80, protocol: "HTTP", defaultActions: [HTTPS_REDIRECT], tags: named(args.tags, `${name}-http`) },
      parent,
    );
    new aws.lb.ListenerRule(
      `${name}-apex-to-www`,
      {
        listenerArn: https.arn,
        priority: 10,
        conditions: [{ hostHeader: { values: [args.domain] } }],
        actions: [wwwRedirect(args.domain)],
        tags: named(args.tags, `${name}-apex-to-www`),
      },
      parent,
    );

    const types = args.ipv6 ? ["A", "AAAA"] : ["A"];
    for (const [label, fqdn] of [
      ["apex", names[0]],
      ["www", names[1]],
    ]) {
      for (const type of types) {
        new aws.route53.Record(
          `${name}-${label}-${type.toLowerCase()}`,
          {
            zoneId: args.zoneId,
            name: fqdn,
            type,
            aliases: [{ name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: true }],
            // Takes over the names from the single host's A records (SiteDns) when a stack scales out.
            allowOverwrite: true,
          },
          parent,
        );
      }
    }

    this.dnsName = alb.dnsName;
    this.zoneId = alb.zoneId;
    this.arn = alb.arn;
    this.securityGroupId = sg.id;
    this.targetGroupArn = targets.arn;
    this.httpsListenerArn = https.arn;
    this.httpListenerArn = http.arn;
    this.certificateArn = validation.certificateArn;
    this.names = names;
    this.registerOutputs({
      dnsName: this.dnsName,
      zoneId: this.zoneId,
      arn: this.arn,
      securityGroupId: this.securityGroupId,
      targetGroupArn: this.targetGroupArn,
      httpsListenerArn: this.httpsListenerArn,
      httpListenerArn: this.httpListenerArn,
      certificateArn: this.certificateArn,
    });
  }
}
