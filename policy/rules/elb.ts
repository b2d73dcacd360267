/**
 * Load balancers and their listeners (AWS FSBP ELB.1, ELB.4, ELB.6, ELB.13, ELB.17).
 *
 * "Protected" is Pulumi's `protect` resource option, which the program sets from
 * `django-deploy:protect` (true on prod): a load balancer Pulumi refuses to delete must be one AWS
 * refuses to delete too. Resource options are always known, in preview as well.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationArgs, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory, show } from "./common";

export type LoadBalancerProps = Unwrap<aws.lb.LoadBalancerArgs>;
export type ListenerProps = Unwrap<aws.lb.ListenerArgs>;

/**
 * The TLS policies FSBP ELB.17 recommends for HTTPS (ALB) and TLS (NLB) listeners: TLS 1.3 with
 * TLS 1.2 restricted to forward-secret AEAD ciphers ("Res"), or TLS 1.3 only, plus their FIPS and
 * post-quantum variants. ELBSecurityPolicy-TLS13-1-2-2021-06 (the console's former default) is
 * not on the list: it still offers TLS 1.2 CBC ciphers.
 */
export const RECOMMENDED_TLS_POLICIES: readonly string[] = [
  "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
  "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
  "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
  "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
  "ELBSecurityPolicy-TLS13-1-3-2021-06",
  "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
  "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
  "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
];

/** What AWS uses when a listener names no policy (for the API, CloudFormation and Terraform). */
const AWS_DEFAULT_TLS_POLICY = "ELBSecurityPolicy-2016-08";

/** A listener's protocol, upper case; HTTP when unset (the Application Load Balancer default). */
const listenerProtocol = (props: ListenerProps) => String(props.protocol ?? "HTTP").toUpperCase();

/** Actions that end a request; authenticate-* and jwt-validation run before one of these. */
const TERMINAL_ACTIONS = ["forward", "redirect", "fixed-response"];

export function checkHttpListenerRedirects(props: ListenerProps, report: Report): void {
  if (listenerProtocol(props) !== "HTTP") return;
  const terminal = (props.defaultActions ?? []).filter((a) => TERMINAL_ACTIONS.includes(String(a.type).toLowerCase()));
  const redirectsToHttps = (a: (typeof terminal)[number]) =>
    String(a.type).toLowerCase() === "redirect" && String(a.redirect?.protocol ?? "").toUpperCase() === "HTTPS";
  if (terminal.length === 0 || !terminal.every(redirectsToHttps)) {
    const got = terminal.map((a) => (a.type === "redirect" ? `redirect to ${show(a.redirect?.protocol ?? "#{protocol}")}` : a.type));
    report(
      `an HTTP listener's default action must redirect to HTTPS (type "redirect", redirect.protocol "HTTPS") (FSBP ELB.1); ` +
        `got ${got.length > 0 ? got.join(", ") : "no action"}.`,
    );
  }
}

export function checkListenerTlsPolicy(props: ListenerProps, report: Report): void {
  const protocol = listenerProtocol(props);
  if (protocol !== "HTTPS" && protocol !== "TLS") return;
  const policy = props.sslPolicy;
  if (typeof policy !== "string" || !RECOMMENDED_TLS_POLICIES.includes(policy)) {
    const got = typeof policy === "string" ? JSON.stringify(policy) : `unset (AWS then uses ${AWS_DEFAULT_TLS_POLICY})`;
    report(
      `${protocol} listeners must use a recommended TLS policy such as ${RECOMMENDED_TLS_POLICIES[0]} (FSBP ELB.17); ` +
        `sslPolicy is ${got}.`,
    );
  }
}

const isApplication = (props: LoadBalancerProps) => (props.loadBalancerType ?? "application") === "application";

export function checkAlbDropsInvalidHeaders(props: LoadBalancerProps, report: Report): void {
  if (!isApplication(props)) return;
  if (props.dropInvalidHeaderFields !== true) {
    report(
      `Application Load Balancers must drop invalid HTTP header fields (dropInvalidHeaderFields: true) (FSBP ELB.4); ` +
        `got ${show(props.dropInvalidHeaderFields)}.`,
    );
  }
}

export function checkLoadBalancerDeletionProtection(
  props: LoadBalancerProps,
  args: Pick<ResourceValidationArgs, "opts">,
  report: Report,
): void {
  if (!args.opts.protect) return;
  if (props.enableDeletionProtection !== true) {
    report(
      `a protected load balancer (Pulumi protect, from django-deploy:protect) must have enableDeletionProtection: true ` +
        `(FSBP ELB.6); got ${show(props.enableDeletionProtection)}.`,
    );
  }
}

export function checkLoadBalancerMultiAz(props: LoadBalancerProps, report: Report): void {
  // A load balancer takes at most one subnet per Availability Zone, so subnets count zones.
  // Only the lengths are read: subnet ids of new subnets are unknown during preview.
  const zones = Math.max(props.subnets?.length ?? 0, props.subnetMappings?.length ?? 0);
  if (zones < 2) {
    report(`load balancers must span at least 2 Availability Zones (subnets or subnetMappings in 2 zones) (FSBP ELB.13); got ${zones}.`);
  }
}

export const elbPolicies: ResourceValidationPolicy[] = [
  {
    name: "elb-http-listener-redirects-to-https",
    description: "HTTP listeners (aws.lb.Listener) redirect every request to HTTPS with their default action (FSBP ELB.1).",
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lb.Listener, (props, _args, report) => checkHttpListenerRedirects(props, report)),
  },
  {
    name: "elb-listener-tls-policy",
    description: "HTTPS and TLS listeners use one of the TLS policies FSBP ELB.17 recommends (TLS 1.3, restricted TLS 1.2) (FSBP ELB.17).",
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lb.Listener, (props, _args, report) => checkListenerTlsPolicy(props, report)),
  },
  {
    name: "elb-alb-drop-invalid-headers",
    description: "Application Load Balancers drop invalid HTTP header fields (FSBP ELB.4).",
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lb.LoadBalancer, (props, _args, report) => checkAlbDropsInvalidHeaders(props, report)),
  },
  {
    name: "elb-deletion-protection-when-protected",
    description: "Load balancers with Pulumi's protect option (prod) have AWS deletion protection enabled too (FSBP ELB.6).",
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lb.LoadBalancer, (props, args, report) =>
      checkLoadBalancerDeletionProtection(props, args, report),
    ),
  },
  {
    name: "elb-multi-az",
    description: "Load balancers span at least two Availability Zones (FSBP ELB.13).",
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lb.LoadBalancer, (props, _args, report) => checkLoadBalancerMultiAz(props, report)),
  },
];
