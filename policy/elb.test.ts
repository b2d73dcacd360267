/** Load balancers and listeners: FSBP ELB.1, ELB.4, ELB.6, ELB.13, ELB.17. */
import { TYPES, run } from "./harness";
import { RECOMMENDED_TLS_POLICIES } from "./rules";

const goodAlb = { loadBalancerType: "application", subnets: ["subnet-a", "subnet-b"], dropInvalidHeaderFields: true };
const lb = (name: string, props: Record<string, unknown>, protect = false) => run(name, TYPES.loadBalancer, props, { protect });
const listener = (name: string, props: Record<string, unknown>) => run(name, TYPES.listener, props);

const redirect = { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } };
const forward = { type: "forward", targetGroupArn: "arn:tg" };

describe("elb-http-listener-redirects-to-https (ELB.1)", () => {
  const check = (props: Record<string, unknown>) =>
    listener("elb-http-listener-redirects-to-https", { loadBalancerArn: "arn:lb", ...props });

  it("passes an HTTP listener that redirects to HTTPS, and leaves HTTPS listeners alone", async () => {
    expect(await check({ protocol: "HTTP", port: 80, defaultActions: [redirect] })).toEqual([]);
    expect(
      await check({
        protocol: "http",
        port: 80,
        defaultActions: [{ type: "redirect", redirect: { protocol: "https", statusCode: "HTTP_302" } }],
      }),
    ).toEqual([]);
    expect(await check({ protocol: "HTTPS", port: 443, defaultActions: [forward] })).toEqual([]);
  });

  it("fails an HTTP listener (explicit or by default) that forwards, answers, or redirects without HTTPS", async () => {
    expect(await check({ protocol: "HTTP", port: 80, defaultActions: [forward] })).toEqual([
      expect.stringContaining('must redirect to HTTPS (type "redirect", redirect.protocol "HTTPS") (FSBP ELB.1); got forward.'),
    ]);
    expect(await check({ port: 80, defaultActions: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain" } }] })).toEqual([
      expect.stringContaining("got fixed-response."),
    ]);
    expect(
      await check({ protocol: "HTTP", defaultActions: [{ type: "redirect", redirect: { port: "8080", statusCode: "HTTP_301" } }] }),
    ).toEqual([expect.stringContaining('got redirect to "#{protocol}".')]);
    expect(await check({ protocol: "HTTP", defaultActions: [] })).toEqual([expect.stringContaining("got no action.")]);
  });
});

describe("elb-listener-tls-policy (ELB.17)", () => {
  const check = (props: Record<string, unknown>) =>
    listener("elb-listener-tls-policy", { loadBalancerArn: "arn:lb", defaultActions: [forward], ...props });

  it("passes HTTPS and TLS listeners on a recommended policy, and ignores HTTP/TCP listeners", async () => {
    for (const sslPolicy of RECOMMENDED_TLS_POLICIES)
      expect([sslPolicy, await check({ protocol: "HTTPS", sslPolicy })]).toEqual([sslPolicy, []]);
    expect(await check({ protocol: "TLS", sslPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06" })).toEqual([]);
    expect(await check({ protocol: "HTTP", defaultActions: [redirect] })).toEqual([]);
    expect(await check({ protocol: "TCP" })).toEqual([]);
  });

  it("fails an older policy, and no policy (AWS then picks ELBSecurityPolicy-2016-08)", async () => {
    expect(await check({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-2016-08" })).toEqual([
      'HTTPS listeners must use a recommended TLS policy such as ELBSecurityPolicy-TLS13-1-2-Res-2021-06 (FSBP ELB.17); sslPolicy is "ELBSecurityPolicy-2016-08".',
    ]);
    expect(await check({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" })).toHaveLength(1);
    expect(await check({ protocol: "TLS" })).toEqual([
      expect.stringContaining("sslPolicy is unset (AWS then uses ELBSecurityPolicy-2016-08)."),
    ]);
  });
});

describe("elb-alb-drop-invalid-headers (ELB.4)", () => {
  it("passes an ALB that drops invalid headers, and network load balancers", async () => {
    expect(await lb("elb-alb-drop-invalid-headers", goodAlb)).toEqual([]);
    expect(await lb("elb-alb-drop-invalid-headers", { loadBalancerType: "network", subnets: ["a", "b"] })).toEqual([]);
  });

  it("fails an ALB (explicit or by default type) that forwards invalid headers", async () => {
    expect(await lb("elb-alb-drop-invalid-headers", { subnets: ["a", "b"] })).toEqual([
      "Application Load Balancers must drop invalid HTTP header fields (dropInvalidHeaderFields: true) (FSBP ELB.4); got unset.",
    ]);
    expect(await lb("elb-alb-drop-invalid-headers", { ...goodAlb, dropInvalidHeaderFields: false })).toEqual([
      expect.stringContaining("got false."),
    ]);
  });
});

describe("elb-deletion-protection-when-protected (ELB.6)", () => {
  it("requires deletion protection only of a protected load balancer", async () => {
    expect(await lb("elb-deletion-protection-when-protected", goodAlb)).toEqual([]);
    expect(await lb("elb-deletion-protection-when-protected", { ...goodAlb, enableDeletionProtection: true }, true)).toEqual([]);
    expect(await lb("elb-deletion-protection-when-protected", goodAlb, true)).toEqual([
      "a protected load balancer (Pulumi protect, from django-deploy:protect) must have enableDeletionProtection: true (FSBP ELB.6); got unset.",
    ]);
  });
});

describe("elb-multi-az (ELB.13)", () => {
  it("passes two or more subnets or subnet mappings", async () => {
    expect(await lb("elb-multi-az", goodAlb)).toEqual([]);
    expect(await lb("elb-multi-az", { loadBalancerType: "network", subnetMappings: [{ subnetId: "a" }, { subnetId: "b" }] })).toEqual([]);
  });

  it("fails one zone or none", async () => {
    expect(await lb("elb-multi-az", { ...goodAlb, subnets: ["subnet-a"] })).toEqual([
      "load balancers must span at least 2 Availability Zones (subnets or subnetMappings in 2 zones) (FSBP ELB.13); got 1.",
    ]);
    expect(await lb("elb-multi-az", { loadBalancerType: "application" })).toEqual([expect.stringContaining("got 0.")]);
  });
});
