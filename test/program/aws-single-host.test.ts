/**
 * The single EC2 host (components/aws-host.ts) with `bootHostKey`: the same generated host key as
 * the app hosts, through fixtures/single-host-program.ts; and without it (index.ts today) nothing
 * changes: no key, no user data.
 */
import * as yaml from "js-yaml";
import { OPERATOR_KEY, SINGLE_HOST_PROGRAM } from "./aws-fixture";
import { AWS_MARKERS, ProgramRun, isWrappedSecret, plainStrings, runProgram, stackConfig } from "./harness";

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

test("without bootHostKey (index.ts today): no generated key and no user data", async () => {
  const dev = await runProgram(stackConfig("dev"), { stack: "dev" });
  expect(dev.error).toBeUndefined();
  expect(dev.registrations.filter((r) => r.type.startsWith("tls:"))).toEqual([]);
  expect(dev.byName("server-instance").inputs).not.toHaveProperty("userData");
  expect(dev.byName("server-instance").options.additionalSecretOutputs).toEqual([]);
});
