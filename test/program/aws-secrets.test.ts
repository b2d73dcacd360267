/**
 * Secrets of the scale-out components: the generated RDS password, the Redis AUTH token, the hosts'
 * SSH host private keys (and so their user data), the database and broker URLs. The fake values
 * carry markers (harness AWS_MARKERS); no marker may appear in plain anywhere the engine, the state
 * or a log could show it: the wire form of every RegisterResource request, every component's
 * registered outputs, every stack output. The technique of secrets.test.ts, on the real program's
 * load-balanced stacks (aws-fixture.ts).
 */
import { AWS_STACKS, runAwsStack } from "./aws-fixture";
import { AWS_MARKERS, ProgramRun, isWrappedSecret, plainStrings } from "./harness";

const MARKERS = Object.values(AWS_MARKERS);
const hasMarker = (s: string) => MARKERS.some((m) => s.includes(m));

describe.each(Object.entries(AWS_STACKS))("%s stack", (_key, s) => {
  let run: ProgramRun;
  const hosts = Array.from({ length: s.hosts }, (_, i) => `app-${i}`);
  beforeAll(async () => {
    run = await runAwsStack(s);
    expect(run.error).toBeUndefined();
  });

  test("the fake secrets really reach the resources and the URLs (so the checks below mean something)", () => {
    expect(run.byName("db-db").wire.password.value).toContain(AWS_MARKERS.dbPassword);
    expect(run.byName("cache-redis").wire.authToken.value).toContain(AWS_MARKERS.authToken);
    for (const h of hosts) expect(run.byName(h).wire.userData.value).toContain(AWS_MARKERS.hostKey);
    // On every host, .server.envrc gets the URLs on its step's stdin (a secret).
    for (const i of hosts.keys()) {
      const stdin = run.byName(`env-server-env${i === 0 ? "" : `-h${i + 1}`}`).wire.stdin;
      expect(isWrappedSecret(stdin)).toBe(true);
      expect(stdin.value).toContain(AWS_MARKERS.dbPassword);
      expect(stdin.value).toContain(AWS_MARKERS.authToken);
    }
  });

  test("password, AUTH token and user data are secret inputs (wrapped where they are on the wire)", () => {
    expect(isWrappedSecret(run.byName("db-db").wire.password)).toBe(true);
    expect(isWrappedSecret(run.byName("cache-redis").wire.authToken)).toBe(true);
    for (const h of hosts) expect(isWrappedSecret(run.byName(h).wire.userData)).toBe(true);
  });

  test("no secret in plain in any input of any resource (wire form and deserialized inputs)", () => {
    const leaks = run.registrations.flatMap((r) =>
      [...plainStrings(r.wire), ...plainStrings(r.inputs)].filter((x) => hasMarker(x.value)).map((x) => `${r.name}.${x.path}`),
    );
    expect(leaks).toEqual([]);
  });

  test("outputs that hold the secrets stay secret in the state: the providers' own and the resources'", () => {
    for (const h of hosts) {
      expect(run.byName(`${h}-host-key`).options.additionalSecretOutputs).toEqual(
        expect.arrayContaining(["privateKeyOpenssh", "privateKeyPem"]),
      );
      expect(run.byName(h).options.additionalSecretOutputs).toContain("userData");
    }
    for (const name of ["db-password", "cache-auth-token"]) expect(run.byName(name).options.additionalSecretOutputs).toContain("result");
    expect(run.byName("db-db").options.additionalSecretOutputs).toContain("password");
    expect(run.byName("cache-redis").options.additionalSecretOutputs).toContain("authToken");
  });

  test("component outputs: the URLs registered as secrets, nothing in plain", () => {
    const outputs = (type: string) => run.componentOutputs[run.registrations.find((r) => r.type === type)!.urn];
    expect(isWrappedSecret(outputs("django-deploy:aws:Database").databaseUrl)).toBe(true);
    expect(isWrappedSecret(outputs("django-deploy:aws:Cache").brokerUrl)).toBe(true);
    const leaks = Object.entries(run.componentOutputs).flatMap(([urn, outs]) =>
      plainStrings(outs)
        .filter((x) => hasMarker(x.value))
        .map((x) => `${urn} ${x.path}`),
    );
    expect(leaks).toEqual([]);
  });

  test("stack outputs: none holds a secret in plain; the hosts' addresses and public host keys are not secret (they hold none)", () => {
    expect(run.exports.hostAddresses.secret).toBe(false);
    expect(run.exports.hostKeys.secret).toBe(false);
    const leaks = Object.entries(run.exports).filter(([, out]) => hasMarker(JSON.stringify(out.value) ?? "") && !out.secret);
    expect(leaks).toEqual([]);
  });
});
