/**
 * App hosts, pure parts (components/aws/app-hosts.ts, host-key.ts): the cloud-config that installs
 * a generated ed25519 host key and nothing else, the public key line connections pin, the spread
 * over subnets, the security group's ingress (SSH from the allow-list only, HTTP from the load
 * balancer's group only).
 */
import * as fc from "fast-check";
import * as yaml from "js-yaml";
import { SSH_ALLOW_WORLD_TAG as POLICY_TAG } from "../../policy/rules/ingress";
import { appHostIngress, spreadOverSubnets } from "../../components/aws/app-hosts";
import { SSH_ALLOW_WORLD_TAG } from "../../components/aws/common";
import { hostKeyCloudConfig, openSshPublicKeyLine } from "../../components/aws/host-key";

const PRIVATE =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACB0ZXN0\n-----END OPENSSH PRIVATE KEY-----\n";
const PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0\n";

describe("hostKeyCloudConfig", () => {
  test("a #cloud-config that deletes the image's host keys, installs this ed25519 pair verbatim and generates no other", () => {
    const text = hostKeyCloudConfig(PRIVATE, PUBLIC);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(yaml.load(text)).toEqual({
      ssh_deletekeys: true,
      ssh_genkeytypes: [],
      ssh_keys: { ed25519_private: PRIVATE, ed25519_public: PUBLIC.trim() },
    });
  });

  test("a private key without its final newline gets one (sshd refuses a truncated key file)", () => {
    const text = hostKeyCloudConfig(PRIVATE.trimEnd(), PUBLIC);
    expect((yaml.load(text) as any).ssh_keys.ed25519_private).toBe(PRIVATE);
  });

  test("refuses anything but an ed25519 public key and an OpenSSH private key", () => {
    expect(() => hostKeyCloudConfig(PRIVATE, "ssh-rsa AAAAB3NzaC1yc2E=")).toThrow(/ssh-ed25519/);
    expect(() => hostKeyCloudConfig("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n", PUBLIC)).toThrow(
      /OpenSSH private key/,
    );
  });

  test("property: any base64 key body round-trips through the YAML unchanged", () => {
    const b64 = fc.uint8Array({ minLength: 32, maxLength: 400 }).map((b) => Buffer.from(b).toString("base64"));
    fc.assert(
      fc.property(b64, b64, (priv, pub) => {
        const lines = priv.match(/.{1,70}/g)!.join("\n");
        const privateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
        const parsed = yaml.load(hostKeyCloudConfig(privateKey, `ssh-ed25519 ${pub} comment`)) as any;
        expect(parsed.ssh_keys).toEqual({ ed25519_private: privateKey, ed25519_public: `ssh-ed25519 ${pub}` });
      }),
    );
  });
});

describe("openSshPublicKeyLine", () => {
  test("type and base64 body, no comment, no newline (what pulumi-command's hostKey parses)", () => {
    expect(openSshPublicKeyLine("ssh-ed25519 AAAAC3Nz+/= user@host\n")).toBe("ssh-ed25519 AAAAC3Nz+/=");
    expect(() => openSshPublicKeyLine("ssh-ed25519")).toThrow();
    expect(() => openSshPublicKeyLine("ssh-ed25519 not*base64")).toThrow();
  });
});

describe("spreadOverSubnets", () => {
  test("round robin: 3 hosts over 2 zones → 0, 1, 0", () => {
    expect(spreadOverSubnets(3, 2)).toEqual([0, 1, 0]);
  });

  test("property: every zone gets ⌊n/z⌋ or ⌈n/z⌉ hosts, and every host a valid subnet", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 8 }), (n, z) => {
        const placement = spreadOverSubnets(n, z);
        expect(placement).toHaveLength(n);
        const counts = Array.from({ length: z }, (_, i) => placement.filter((p) => p === i).length);
        for (const c of counts) expect([Math.floor(n / z), Math.ceil(n / z)]).toContain(c);
      }),
    );
  });

  test("refuses no hosts and no subnets", () => {
    expect(() => spreadOverSubnets(0, 2)).toThrow(/count/);
    expect(() => spreadOverSubnets(2, 0)).toThrow(/subnet/);
  });
});

describe("appHostIngress", () => {
  test("SSH from the allow-list split by family; HTTP 80 from the load balancer's group only, no CIDR", () => {
    expect(appHostIngress(["203.0.113.0/24", "2001:db8::/48"], 22, "sg-lb", false)).toEqual([
      { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.0/24"], ipv6CidrBlocks: ["2001:db8::/48"], description: "ssh" },
      { protocol: "tcp", fromPort: 80, toPort: 80, securityGroups: ["sg-lb"], description: "http from the load balancer" },
    ]);
  });

  test("SSH from the world only with the stack's opt-in; an empty or malformed allow-list never", () => {
    expect(() => appHostIngress(["0.0.0.0/0"], 22, "sg-lb", false)).toThrow(/sshAllowedCidrs: .*whole IPv4 internet/);
    expect(appHostIngress(["0.0.0.0/0"], 22, "sg-lb", true)[0]).toMatchObject({ cidrBlocks: ["0.0.0.0/0"] });
    expect(() => appHostIngress([], 22, "sg-lb", false)).toThrow(/at least one CIDR/);
    expect(() => appHostIngress(["10.0.0.1/8"], 22, "sg-lb", true)).toThrow(/host bits/);
  });

  test("the opt-in tag is the one the policy pack reads", () => {
    expect(SSH_ALLOW_WORLD_TAG).toBe(POLICY_TAG);
  });
});
