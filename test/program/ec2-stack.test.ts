/**
 * The real index.ts with the dev stack's configuration (Pulumi.dev.yaml + fake secrets) under
 * Pulumi mocks: the EC2 host's resources and their security properties, resource options as the
 * engine receives them (protect, ignoreChanges), and every step connecting to the Elastic IP.
 * Prod (Pulumi.prod.yaml) for protection.
 */
import { HOST_WAIT_DIAL_LIMIT } from "../../components/remote-step";
import { SSH_ALLOW_WORLD_TAG } from "../../components/aws/common";
import { judge } from "./policy-judge";
import { FAKE_AMI, FAKE_IP, ProgramRun, Registration, isWrappedSecret, runProgram, stackConfig } from "./harness";

const AWS_TYPES = {
  sg: "aws:ec2/securityGroup:SecurityGroup",
  key: "aws:ec2/keyPair:KeyPair",
  instance: "aws:ec2/instance:Instance",
  eip: "aws:ec2/eip:Eip",
};

let dev: ProgramRun;
let prod: ProgramRun;

beforeAll(async () => {
  dev = await runProgram(stackConfig("dev"), { stack: "dev" });
  prod = await runProgram(stackConfig("prod"), { stack: "prod" });
});

const ofType = (run: ProgramRun, type: string) => run.registrations.filter((r) => r.type === type);
const one = (run: ProgramRun, type: string): Registration => {
  const found = ofType(run, type);
  expect(found).toHaveLength(1);
  return found[0];
};

describe("dev stack (EC2)", () => {
  test("the program ran without error", () => {
    expect(dev.error).toBeUndefined();
    expect(prod.error).toBeUndefined();
  });

  test("exactly one security group, key pair, instance and Elastic IP, named after the component, and no other AWS resource", () => {
    const aws = dev.registrations.filter((r) => r.type.startsWith("aws:") || r.type.startsWith("pulumi:providers:"));
    expect(aws.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
      [
        `${AWS_TYPES.eip} server-eip`,
        `${AWS_TYPES.instance} server-instance`,
        `${AWS_TYPES.key} server-key`,
        `${AWS_TYPES.sg} server-sg`,
      ].sort(),
    );
    const host = one(dev, "django-deploy:host:AwsHost");
    expect(host.name).toBe("server");
    for (const r of aws) expect(r.options.parent).toBe(host.urn);
  });

  test("security group: 80 and 443 from anywhere, SSH only from sshAllowedCidrs, nothing else", () => {
    const sg = one(dev, AWS_TYPES.sg).inputs;
    const web = (port: number) => ({
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      cidrBlocks: ["0.0.0.0/0"],
      ipv6CidrBlocks: ["::/0"],
      description: "web",
    });
    expect(sg.ingress).toEqual([
      web(80),
      web(443),
      { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.0/24"], ipv6CidrBlocks: [], description: "ssh" },
    ]);
    for (const rule of sg.ingress) {
      const world = [...rule.cidrBlocks, ...rule.ipv6CidrBlocks].some((c: string) => c === "0.0.0.0/0" || c === "::/0");
      if (world) expect([80, 443]).toContain(rule.fromPort);
      expect(rule.fromPort).toBe(rule.toPort);
    }
  });

  test("the SSH rule splits IPv4 from IPv6 CIDRs", async () => {
    const run = await runProgram(stackConfig("dev", { sshAllowedCidrs: ["203.0.113.4/32", "2001:db8::/48"] }));
    expect(run.error).toBeUndefined();
    const ssh = one(run, AWS_TYPES.sg).inputs.ingress.filter((r: { description: string }) => r.description === "ssh");
    expect(ssh).toEqual([
      { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.4/32"], ipv6CidrBlocks: ["2001:db8::/48"], description: "ssh" },
    ]);
  });

  test("instance: IMDSv2 required with hop limit 1, encrypted gp3 root of the configured size, configured type, tags", () => {
    const instance = one(dev, AWS_TYPES.instance).inputs;
    expect(instance.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
    expect(instance.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true, volumeSize: 20, deleteOnTermination: true });
    expect(instance.instanceType).toBe("t3.small");
    expect(instance.keyName).toBe("server-key-fake");
    expect(instance.vpcSecurityGroupIds).toEqual(["sg-0fake"]);
    const tags = { Project: "django-deploy", Stack: "dev", ManagedBy: "pulumi" };
    for (const t of Object.values(AWS_TYPES)) expect(one(dev, t).inputs.tags).toMatchObject(tags);
    expect(instance.rootBlockDevice.tags).toMatchObject(tags);
  });

  test("rootVolumeGiB and instanceType come from the stack file (prod: 30 GiB, t3.medium)", () => {
    const instance = one(prod, AWS_TYPES.instance).inputs;
    expect(instance.rootBlockDevice).toMatchObject({ volumeSize: 30, encrypted: true, volumeType: "gp3" });
    expect(instance.instanceType).toBe("t3.medium");
    expect(instance.tags).toMatchObject({ Stack: "prod" });
  });

  test("AMI: the newest official Debian 12 image (owner 136693071363), and a newer AMI never replaces the host", () => {
    const ami = dev.calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi");
    expect(ami).toHaveLength(1);
    // The Debian project's AWS account (https://wiki.debian.org/Cloud/AmazonEC2Image), spelled out here on purpose.
    expect(ami[0].inputs.owners).toEqual(["136693071363"]);
    expect(ami[0].inputs.mostRecent).toBe(true);
    expect(ami[0].inputs.filters).toEqual(
      expect.arrayContaining([
        { name: "name", values: ["debian-12-amd64-*"] },
        { name: "architecture", values: ["x86_64"] },
      ]),
    );
    expect(dev.calls.map((c) => c.token)).toEqual(["aws:ec2/getAmi:getAmi"]);
    const instance = one(dev, AWS_TYPES.instance);
    expect(instance.inputs.ami).toBe(FAKE_AMI);
    // The option travels in the RegisterResource request; the engine applies it.
    expect(instance.options.ignoreChanges).toEqual(["ami"]);
  });

  test("a Graviton instance type gets the arm64 Debian 12 image", async () => {
    const run = await runProgram(stackConfig("dev", { instanceType: "t4g.small" }));
    const filters = run.calls.find((c) => c.token === "aws:ec2/getAmi:getAmi")!.inputs.filters;
    expect(filters).toEqual(
      expect.arrayContaining([
        { name: "name", values: ["debian-12-arm64-*"] },
        { name: "architecture", values: ["arm64"] },
      ]),
    );
  });

  test("protect: false on dev, true on prod for the instance and the Elastic IP (and nothing else is protected)", () => {
    for (const r of dev.registrations) expect([r.name, r.options.protect]).toEqual([r.name, false]);
    const protectedNames = prod.registrations
      .filter((r) => r.options.protect)
      .map((r) => r.name)
      .sort();
    expect(protectedNames).toEqual(["server-eip", "server-instance"]);
  });

  test("the Elastic IP is attached to the instance", () => {
    const eip = one(dev, AWS_TYPES.eip);
    expect(eip.inputs).toMatchObject({ domain: "vpc", instance: "i-0fake" });
    expect(eip.options.dependencies).toContain(one(dev, AWS_TYPES.instance).urn);
  });

  test("every remote command connects to the Elastic IP, after the whole AWS host exists", () => {
    const eip = one(dev, AWS_TYPES.eip);
    const commands = dev.commands();
    expect(commands.length).toBeGreaterThanOrEqual(12);
    for (const c of commands) {
      expect(isWrappedSecret(c.inputs.connection)).toBe(true);
      expect(c.inputs.connection.value).toMatchObject({ host: FAKE_IP, port: 22, user: "admin" });
      expect(c.options.dependencies).toContain(eip.urn);
      expect(c.seq).toBeGreaterThan(eip.seq);
    }
    // The first step waits for every part of the host (dependsOn the AwsHost component).
    const wait = dev.byName("host-wait");
    for (const t of Object.values(AWS_TYPES)) expect(wait.options.dependencies).toContain(one(dev, t).urn);
    // A bounded wait (remote-step.ts): a host key that never matches fails instead of dialling forever.
    expect(wait.inputs.connection.value).toMatchObject({ dialErrorLimit: HOST_WAIT_DIAL_LIMIT, perDialTimeout: 30 });
  });

  test("stack outputs", () => {
    expect(dev.exports.siteUrl).toEqual({ value: "https://www.dev.example.com/", secret: false });
    expect(dev.exports.publicIp).toEqual({ value: FAKE_IP, secret: false });
    expect(dev.exports.sshCommand).toEqual({ value: `ssh -p 22 admin@${FAKE_IP}`, secret: false });
    expect(dev.exports.deployedRef.value).toMatch(/^main \([0-9a-f]{40}\)$/);
    expect(prod.exports.deployedRef.value).toMatch(/^v1\.0\.0 \([0-9a-f]{40}\)$/);
  });
});

describe("dnsZoneId (Route 53)", () => {
  test("A records for the apex and www point at the Elastic IP, before any certificate step", async () => {
    const run = await runProgram(stackConfig("staging", { dnsZoneId: "Z0123456789ABCDEFGHIJ" }), { stack: "staging" });
    expect(run.error).toBeUndefined();
    const records = ofType(run, "aws:route53/record:Record");
    expect(records.map((r) => [r.name, r.inputs.name, r.inputs.type, r.inputs.records, r.inputs.zoneId]).sort()).toEqual([
      ["dns-apex", "staging.example.com", "A", [FAKE_IP], "Z0123456789ABCDEFGHIJ"],
      ["dns-www", "www.staging.example.com", "A", [FAKE_IP], "Z0123456789ABCDEFGHIJ"],
    ]);
    const dns = one(run, "django-deploy:dns:SiteDns");
    for (const step of ["web-acme-bootstrap", "web-certificate"])
      expect(run.byName(step).seq).toBeGreaterThan(Math.max(...records.map((r) => r.seq)));
    expect(run.byName("web-acme-bootstrap").options.dependencies).toEqual(expect.arrayContaining(records.map((r) => r.urn)));
    expect(dns.name).toBe("dns");
  });

  test("no DNS record without dnsZoneId", () => {
    expect(ofType(dev, "aws:route53/record:Record")).toEqual([]);
  });
});

describe("teardown (staging, review stacks)", () => {
  // The destroy itself runs in the real-host test (test/host/deploy.test.ts "teardown"), with the host up
  // and after it is gone; here: what makes the engine's destroy delete every AWS resource.
  test("a review stack leaves nothing behind at destroy: nothing protected or retained, and no step has a remote delete", async () => {
    const run = await runProgram(stackConfig("staging"), { stack: "pr-42" });
    expect(run.error).toBeUndefined();
    const custom = run.registrations.filter((r) => r.custom);
    expect(custom.map((r) => r.type)).toEqual(expect.arrayContaining(Object.values(AWS_TYPES)));
    for (const r of custom) {
      expect({ name: r.name, protect: r.options.protect, retain: r.options.retainOnDelete }).toEqual({
        name: r.name,
        protect: false,
        retain: false,
      });
    }
    for (const c of run.commands()) expect({ name: c.name, delete: c.inputs.delete }).toEqual({ name: c.name, delete: undefined });
  });
});

describe("SSH from the world or near it: the config, the security group's tag and the policy pack agree", () => {
  const halves = ["0.0.0.0/1", "128.0.0.0/1"];

  test("with sshAllowWorld: true the group opens 22 to both halves, carries the opt-in tag, and the pack accepts it (an advisory report only)", async () => {
    const run = await runProgram(stackConfig("dev", { sshAllowWorld: true, sshAllowedCidrs: halves }));
    expect(run.error).toBeUndefined();
    const sg = run.byName("server-sg");
    expect(sg.inputs.tags[SSH_ALLOW_WORLD_TAG]).toBe("true");
    const ssh = (sg.inputs.ingress as { description: string; cidrBlocks: string[] }[]).find((r) => r.description === "ssh");
    expect(ssh?.cidrBlocks).toEqual(halves);
    // Only the advisory report of the opt-in policy: no mandatory policy objects.
    const findings = (await judge(run)).filter((f) => f.includes("server-sg"));
    expect(findings).toEqual([
      expect.stringMatching(
        /^security-group-ssh-world-opt-in .*together open SSH to the whole IPv4 internet; accepted: the stack opted in/,
      ),
    ]);
  });

  test("without it the group has no tag, and the same blocks on it are what the pack refuses", async () => {
    const run = await runProgram(stackConfig("dev"));
    expect(run.error).toBeUndefined();
    expect(run.byName("server-sg").inputs.tags).not.toHaveProperty([SSH_ALLOW_WORLD_TAG]);
    const opened = {
      registrations: run.registrations.map((r) =>
        r.name === "server-sg"
          ? {
              ...r,
              inputs: {
                ...r.inputs,
                ingress: (r.inputs.ingress as { description: string }[]).map((i) =>
                  i.description === "ssh" ? { ...i, cidrBlocks: halves } : i,
                ),
              },
            }
          : r,
      ),
    };
    expect((await judge(opened)).join("\n")).toMatch(
      /server-sg: .*0\.0\.0\.0\/1 and 128\.0\.0\.0\/1 together open SSH to the whole IPv4 internet/,
    );
  });
});
