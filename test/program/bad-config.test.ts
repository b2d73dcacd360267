/**
 * A bad configuration stops the real index.ts before it registers anything: no resource, no
 * invoke, and an error that names the key — without echoing a secret value.
 */
import { ConfigInput, FAKE_SECRETS, MARKERS, applyOverrides, existingHostConfig, runProgram, stackConfig } from "./harness";

const plainAppEnv = (): ConfigInput => {
  const cfg = stackConfig("dev");
  return { values: cfg.values, secretKeys: cfg.secretKeys.filter((k) => k !== "django-deploy:appEnv") };
};

const CASES: [string, () => ConfigInput, RegExp][] = [
  [
    "domain with a space",
    () => stackConfig("dev", { domain: "exa mple.com" }),
    /django-deploy:domain: must be a lowercase DNS name.*\(got "exa mple\.com"\)/,
  ],
  [
    "SSH open to the world without opt-in",
    () => stackConfig("dev", { sshAllowedCidrs: ["0.0.0.0/0"] }),
    /django-deploy:sshAllowedCidrs: 0\.0\.0\.0\/0 opens SSH to the whole IPv4 internet/,
  ],
  [
    "SSH open to the world in two halves without opt-in",
    () => stackConfig("dev", { sshAllowedCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }),
    /django-deploy:sshAllowedCidrs: .*together open SSH to the whole IPv4 internet.*set sshAllowWorld: true/,
  ],
  [
    "an existing host without a host key or the trust-on-first-use opt-in",
    () => existingHostConfig({ sshHostKey: undefined }),
    /django-deploy:sshHostKey: is required for an existing server.*sshTrustOnFirstUse: true/,
  ],
  [
    "a token in repoUrl",
    () => existingHostConfig({ repoUrl: "https://fake-url-token-0001@github.com/example/x.git" }),
    /django-deploy:repoUrl: must not hold a user name, token or password/,
  ],
  [
    "EC2 without sshAllowedCidrs",
    () => stackConfig("dev", { sshAllowedCidrs: undefined }),
    /django-deploy:sshAllowedCidrs: is required for an EC2 host/,
  ],
  // The AMI's sshd listens on 22 and nothing moves it: another port would make host-wait dial forever.
  [
    "EC2 with sshPort 2222",
    () => stackConfig("dev", { sshPort: 2222 }),
    /django-deploy:sshPort: must be 22 for an EC2 host.*\(got "2222"\)/,
  ],
  [
    "a typo in a key",
    () => applyOverrides(stackConfig("dev"), { clientMaxBodySise: "10M" }),
    /django-deploy:clientMaxBodySise: is not a setting of this program; did you mean django-deploy:clientMaxBodySize\?/,
  ],
  ["appEnv set without --secret", plainAppEnv, /django-deploy:appEnv: must be set as a secret/],
  [
    "an existing host with an uppercase domain",
    () => existingHostConfig({ domain: "Example.com" }),
    /django-deploy:domain: must be a lowercase DNS name/,
  ],
  ["repoRef with a command", () => existingHostConfig({ repoRef: "main;reboot" }), /django-deploy:repoRef: must be a git branch/],
  [
    "an appEnv value with a NUL byte",
    () => stackConfig("dev", { appEnv: { ...FAKE_SECRETS.appEnv, BAD: `x\0${MARKERS.appSecret}` } }),
    /django-deploy:appEnv: values must not contain NUL bytes/,
  ],
];

describe("a bad configuration throws before any resource is registered", () => {
  test("the same configurations, made valid, do register resources (so an empty list means something)", async () => {
    for (const cfg of [stackConfig("dev"), existingHostConfig()]) {
      const run = await runProgram(cfg);
      expect(run.error).toBeUndefined();
      expect(run.registrations.length).toBeGreaterThan(10);
    }
  });

  test.each(CASES)("%s", async (_label, config, message) => {
    const run = await runProgram(config());
    expect(run.error).toBeDefined();
    expect(run.error!.message).toMatch(/^Invalid stack configuration \(nothing was created\):/);
    expect(run.error!.message).toMatch(message);
    for (const marker of Object.values(MARKERS)) expect(run.error!.message).not.toContain(marker);
    expect(run.registrations).toEqual([]);
    expect(run.calls).toEqual([]);
    expect(run.exports).toEqual({});
  });
});
