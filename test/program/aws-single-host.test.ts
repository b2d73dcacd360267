/**
 * The single EC2 host (components/aws-host.ts) with `bootHostKey`: the same generated host key as
 * the app hosts, through fixtures/single-host-program.ts; index.ts turns it on (every step pins
 * the key), and off only under sshTrustOnFirstUse (no key, no user data).
 */
import * as yaml from "js-yaml";
import { OPERATOR_KEY, SINGLE_HOST_PROGRAM } from "./aws-fixture";
import { AWS_MARKERS, FAKE_WAIT_HOST_KEY, ProgramRun, isWrappedSecret, plainStrings, runProgram, stackConfig } from "./harness";

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram(
    { values: { "fixture:sshPublicKey": OPERATOR_KEY }, secretKeys: [] },
    { stack: "dev", program: SINGLE_HOST_PROGRAM },
  );
  expect(run.error).toBeUndefined();
});

test("bootHostKey: an ed25519 key generated for the host, installed by its user data (secret), which replaces the instance when it changes", () => {
  const key = run.byName("server-host-key");
  expect(key.inputs).toEqual({ algorithm: "ED25519" });
  expect(key.options.parent).toBe(run.byName("server").urn);
  const instance = run.byName("server-instance");
  expect(isWrappedSecret(instance.wire.userData)).toBe(true);
  expect(yaml.load(instance.wire.userData.value as string)).toEqual({
    ssh_deletekeys: true,
    ssh_genkeytypes: [],
    ssh_keys: { ed25519_private: key.state.privateKeyOpenssh, ed25519_public: key.state.publicKeyOpenssh.trim() },
  });
  expect(instance.inputs.userDataReplaceOnChange).toBe(true);
  expect(instance.options.additionalSecretOutputs).toContain("userData");
  expect(instance.options.ignoreChanges).toEqual(["ami"]);
});

test("hostPublicKey: the public key line connections pin, not secret; the private key appears in plain nowhere", () => {
  expect(run.exports.hostPublicKey).toEqual({ value: run.byName("server-host-key").state.publicKeyOpenssh.trim(), secret: false });
  const leaks = run.registrations.flatMap((r) => plainStrings(r.wire).filter((x) => x.value.includes(AWS_MARKERS.hostKey)));
  expect(leaks).toEqual([]);
  const outs = Object.values(run.componentOutputs).flatMap((o) => plainStrings(o).filter((x) => x.value.includes(AWS_MARKERS.hostKey)));
  expect(outs).toEqual([]);
});

test("index.ts: the EC2 host boots with the generated key, and every step (host-wait included) pins it", async () => {
  const dev = await runProgram(stackConfig("dev"), { stack: "dev" });
  expect(dev.error).toBeUndefined();
  const key = dev.byName("server-host-key");
  expect(key.inputs).toEqual({ algorithm: "ED25519" });
  expect(isWrappedSecret(dev.byName("server-instance").wire.userData)).toBe(true);
  const pinned = key.state.publicKeyOpenssh.trim();
  for (const c of dev.commands()) expect([c.name, c.inputs.connection.value.hostKey]).toEqual([c.name, pinned]);
  expect(dev.exports.hostKey).toEqual({ value: pinned, secret: false });
});

test("index.ts with sshTrustOnFirstUse (an instance created before): no generated key, no user data; later steps pin what host-wait saw", async () => {
  const dev = await runProgram(stackConfig("dev", { sshTrustOnFirstUse: true }), { stack: "dev" });
  expect(dev.error).toBeUndefined();
  expect(dev.registrations.filter((r) => r.type.startsWith("tls:"))).toEqual([]);
  expect(dev.byName("server-instance").inputs).not.toHaveProperty("userData");
  expect(dev.byName("server-instance").options.additionalSecretOutputs).toEqual([]);
  for (const c of dev.commands()) {
    if (c.name === "host-wait") expect(c.inputs.connection.value).not.toHaveProperty("hostKey");
    else expect([c.name, c.inputs.connection.value.hostKey]).toEqual([c.name, FAKE_WAIT_HOST_KEY]);
  }
});
