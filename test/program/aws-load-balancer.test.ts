/**
 * The load balancer's pure parts (components/aws/load-balancer.ts): redirects, health check,
 * deregistration delay against Gunicorn's graceful stop, the TLS policy against the pack's list,
 * domain validation.
 */
import * as fc from "fast-check";
import { readFileSync } from "fs";
import * as path from "path";
import { RECOMMENDED_TLS_POLICIES, checkHttpListenerRedirects } from "../../policy/rules/elb";
import {
  DEREGISTRATION_DELAY_SECONDS,
  HTTPS_REDIRECT,
  TLS_POLICY,
  healthCheck,
  requireDomain,
  wwwRedirect,
} from "../../components/aws/load-balancer";

/** Gunicorn's graceful_timeout as the hosts get it (the longest a request may still run once a stop begins). */
const GUNICORN_GRACEFUL_TIMEOUT = Number(
  /^graceful_timeout = (\d+)$/m.exec(readFileSync(path.join(__dirname, "..", "..", "files", "gunicorn.conf.py.eta"), "utf8"))![1],
);

test("HTTP → HTTPS: a 301 keeping host, path and query (ELB.1 accepts it)", () => {
  expect(HTTPS_REDIRECT).toEqual({ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } });
  const found: string[] = [];
  checkHttpListenerRedirects({ protocol: "HTTP", defaultActions: [HTTPS_REDIRECT], loadBalancerArn: "arn" }, (m) => found.push(m));
  expect(found).toEqual([]);
});

test("apex → www: a 301 to https://www.<domain> with path and query kept", () => {
  expect(wwwRedirect("example.com")).toEqual({
    type: "redirect",
    redirect: { protocol: "HTTPS", port: "443", host: "www.example.com", path: "/#{path}", query: "#{query}", statusCode: "HTTP_301" },
  });
});

test("the TLS policy is on the pack's ELB.17 list", () => {
  expect(RECOMMENDED_TLS_POLICIES).toContain(TLS_POLICY);
});

test("deregistration delay: longer than Gunicorn's graceful stop, far shorter than AWS's 300 s default", () => {
  expect(GUNICORN_GRACEFUL_TIMEOUT).toBe(30);
  expect(DEREGISTRATION_DELAY_SECONDS).toBeGreaterThan(GUNICORN_GRACEFUL_TIMEOUT);
  expect(DEREGISTRATION_DELAY_SECONDS).toBeLessThanOrEqual(60);
});

describe("healthCheck", () => {
  test("HTTP on the traffic port, 200 only; a host is out after 3 failures 10 s apart, back after 2 passes", () => {
    expect(healthCheck("/healthz")).toEqual({
      enabled: true,
      protocol: "HTTP",
      port: "traffic-port",
      path: "/healthz",
      matcher: "200",
      interval: 10,
      timeout: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
  });

  test.each(["healthz", "/health check", "/a?b", "http://x/healthz", ""])("refuses %j", (path) => {
    expect(() => healthCheck(path)).toThrow(/healthCheckPath/);
  });
});

describe("requireDomain", () => {
  test.each(["example.com", "staging.example.com", "a-b.example.co.uk", "xn--bcher-kva.example"])("accepts %s", (d) => {
    expect(() => requireDomain(d)).not.toThrow();
  });

  test.each(["example", "Example.com", "-a.example.com", "a-.example.com", "a..com", "www.example.com.", "*.example.com"])(
    "refuses %s",
    (d) => {
      expect(() => requireDomain(d)).toThrow(/domain/);
    },
  );

  test("property: a name made of valid labels is accepted and its www name stays within 253 characters", () => {
    const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 2, maxLength: 5 }), (labels) => {
        const domain = labels.join(".");
        requireDomain(domain);
        expect(`www.${domain}`.length).toBeLessThanOrEqual(253);
      }),
    );
  });
});
