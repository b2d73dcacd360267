/**
 * The AWS side of the real program (components/aws/fleet.ts via index.ts) under Pulumi mocks, for a
 * prod-like stack (3 hosts in 3 zones, protect on, a cache replica) and a small one (1 host, 2 zones,
 * protect off). Every security property is read from the RegisterResource requests: inputs as the
 * engine receives them, resource options (protect, ignoreChanges, dependencies).
 */
import * as yaml from "js-yaml";
import { planSubnets } from "../../components/aws/network";
import { hostBucketPolicy, ec2AssumeRolePolicy } from "../../components/aws/host-role";
import { tlsOnlyBucketPolicy, backupLifecycleRules } from "../../components/aws/buckets";
import { SSH_ALLOW_WORLD_TAG } from "../../policy/rules/ingress";
import { AWS_STACKS, AwsStack, OPERATOR_KEY, ZONE_ID, runAwsStack } from "./aws-fixture";
import { FAKE_AMI, FAKE_ZONES, ProgramRun, isWrappedSecret } from "./harness";

const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  routeTable: "aws:ec2/routeTable:RouteTable",
  association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  igw: "aws:ec2/internetGateway:InternetGateway",
  defaultSg: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  instance: "aws:ec2/instance:Instance",
  eip: "aws:ec2/eip:Eip",
  attachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  hostKey: "tls:index/privateKey:PrivateKey",
  record: "aws:route53/record:Record",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
};

const runs: Record<string, ProgramRun> = {};
beforeAll(async () => {
  for (const [key, s] of Object.entries(AWS_STACKS)) runs[key] = await runAwsStack(s);
});

const ofType = (run: ProgramRun, type: string) => run.registrations.filter((r) => r.type === type);
const stacks = Object.entries(AWS_STACKS) as [keyof typeof AWS_STACKS, AwsStack][];

describe.each(stacks)("%s stack", (key, s) => {
  let run: ProgramRun;
  const r = (name: string) => run.byName(name);
  const ids = (names: string[]) => names.map((n) => r(n).id);
  const zones = Array.from({ length: s.zones }, (_, i) => i);
  const hosts = Array.from({ length: s.hosts }, (_, i) => `app-${i}`);
  beforeAll(() => {
    run = runs[key];
  });

  test("the program ran without error; every resource belongs to one of the seven components, named after it", () => {
    expect(run.error).toBeUndefined();
    const components = run.registrations.filter((x) => x.type.startsWith("django-deploy:aws:"));
    expect(components.map((c) => `${c.type} ${c.name}`).sort()).toEqual(
      [
        "django-deploy:aws:AppHosts app",
        "django-deploy:aws:Buckets site-files",
        "django-deploy:aws:Cache cache",
        "django-deploy:aws:Database db",
        "django-deploy:aws:HostRole site-host",
        "django-deploy:aws:LoadBalancer web",
        "django-deploy:aws:Network net",
      ].sort(),
    );
    const byUrn = new Map(components.map((c) => [c.urn, c.name]));
    // Every AWS resource (and the generated host keys and passwords) is a child of one of them.
    const cloud = run.registrations.filter((y) => y.custom && /^(aws|tls|random):/.test(y.type));
    expect(cloud.filter((x) => !byUrn.has(x.options.parent)).map((x) => x.name)).toEqual([]);
    for (const x of cloud) {
      const parent = byUrn.get(x.options.parent);
      expect([x.name, parent && x.name.startsWith(`${parent}-`)]).toEqual([x.name, true]);
    }
  });

  describe("network", () => {
    test("VPC with DNS support and hostnames, an Amazon IPv6 block, the default security group adopted with no rules", () => {
      expect(r("net-vpc").inputs).toMatchObject({
        cidrBlock: "10.0.0.0/16",
        enableDnsSupport: true,
        enableDnsHostnames: true,
        assignGeneratedIpv6CidrBlock: true,
      });
      const adopted = r("net-default-sg");
      expect(adopted.type).toBe(T.defaultSg);
      expect(adopted.inputs.vpcId).toBe(r("net-vpc").id);
      expect(adopted.inputs.ingress ?? []).toEqual([]);
      expect(adopted.inputs.egress ?? []).toEqual([]);
    });

    test("public and data subnets in the first zones the region lists, one of each per zone, blocks from the plan", () => {
      const azCall = run.calls.filter((c) => c.token === "aws:index/getAvailabilityZones:getAvailabilityZones");
      expect(azCall).toHaveLength(1);
      expect(azCall[0].inputs.state).toBe("available");
      const plan = planSubnets("10.0.0.0/16", s.zones);
      for (const i of zones) {
        const pub = r(`net-public-${i}`).inputs;
        const data = r(`net-data-${i}`).inputs;
        expect([pub.availabilityZone, data.availabilityZone]).toEqual([FAKE_ZONES[i], FAKE_ZONES[i]]);
        expect([pub.cidrBlock, data.cidrBlock]).toEqual([plan.public[i], plan.data[i]]);
        expect([pub.mapPublicIpOnLaunch, data.mapPublicIpOnLaunch]).toEqual([false, false]);
        expect(pub.ipv6CidrBlock).toBe(`2001:db8:1234:56${String(i).padStart(2, "0")}::/64`);
        expect(data.ipv6CidrBlock).toBeUndefined();
      }
      expect(ofType(run, T.subnet)).toHaveLength(2 * s.zones);
    });

    test("data subnets: associated with a route table that has no route at all, so nothing reaches the internet gateway", () => {
      const igw = r("net-igw");
      expect(igw.inputs.vpcId).toBe(r("net-vpc").id);
      const tables = new Map(ofType(run, T.routeTable).map((t) => [t.id, t]));
      const tableOf = (subnetId: string | undefined) => {
        const assoc = ofType(run, T.association).filter((a) => a.inputs.subnetId === subnetId);
        expect(assoc).toHaveLength(1);
        return tables.get(assoc[0].inputs.routeTableId)!;
      };
      for (const id of ids(zones.map((i) => `net-data-${i}`))) {
        const table = tableOf(id);
        expect(table.name).toBe("net-data-rt");
        expect(table.inputs.routes).toEqual([]);
        expect(JSON.stringify(table.inputs)).not.toContain(igw.id);
        expect(table.options.dependencies).not.toContain(igw.urn);
      }
      for (const id of ids(zones.map((i) => `net-public-${i}`))) {
        expect(tableOf(id).inputs.routes).toEqual([
          { cidrBlock: "0.0.0.0/0", gatewayId: igw.id },
          { ipv6CidrBlock: "::/0", gatewayId: igw.id },
        ]);
      }
    });
  });

  describe("app hosts", () => {
    test("one instance per host, round robin over the public subnets, with the key pair, the group and the instance profile", () => {
      const instances = ofType(run, T.instance);
      expect(instances.map((i) => i.name).sort()).toEqual(hosts);
      for (const [i, name] of hosts.entries()) {
        const inst = r(name).inputs;
        expect(inst.subnetId).toBe(r(`net-public-${i % s.zones}`).id);
        expect(inst.vpcSecurityGroupIds).toEqual([r("app-sg").id]);
        expect(inst.keyName).toBe(r("app-key").state.keyName);
        expect(inst.iamInstanceProfile).toBe(r("site-host-profile").state.name);
        expect(inst.ami).toBe(FAKE_AMI);
      }
      expect(r("app-key").inputs.publicKey).toBe(OPERATOR_KEY);
      expect(run.calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi").map((c) => c.inputs.owners)).toEqual([["136693071363"]]);
    });

    test("IMDSv2 with hop limit 1, encrypted gp3 root, a newer AMI never replaces a host, a new host key does", () => {
      for (const name of hosts) {
        const inst = r(name);
        expect(inst.inputs.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
        expect(inst.inputs.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true, volumeSize: s.rootVolumeGiB });
        expect(inst.options.ignoreChanges).toEqual(["ami"]);
        expect(inst.inputs.userDataReplaceOnChange).toBe(true);
        expect(inst.options.additionalSecretOutputs).toContain("userData");
      }
    });

    test("security group: SSH only from the allow-list, HTTP 80 only from the load balancer's group (no CIDR), nothing else in", () => {
      const sg = r("app-sg").inputs;
      expect(sg.vpcId).toBe(r("net-vpc").id);
      expect(sg.ingress).toEqual([
        {
          protocol: "tcp",
          fromPort: 22,
          toPort: 22,
          cidrBlocks: ["203.0.113.0/24"],
          ipv6CidrBlocks: ["2001:db8:42::/48"],
          description: "ssh",
        },
        { protocol: "tcp", fromPort: 80, toPort: 80, securityGroups: [r("web-sg").id], description: "http from the load balancer" },
      ]);
      expect(sg.egress).toEqual([{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }]);
      expect(sg.tags).not.toHaveProperty([SSH_ALLOW_WORLD_TAG]);
    });

    test("each host: an Elastic IP, a registration in the target group on port 80, its own ed25519 host key in its user data", () => {
      const tg = r("web-tg").state.arn;
      for (const name of hosts) {
        expect(r(`${name}-eip`).inputs).toMatchObject({ domain: "vpc", instance: r(name).id });
        expect(r(`${name}-target`).inputs).toEqual({ targetGroupArn: tg, targetId: r(name).id, port: 80 });
        const key = r(`${name}-host-key`);
        expect(key.inputs.algorithm).toBe("ED25519");
        const userData = r(name).wire.userData;
        expect(isWrappedSecret(userData)).toBe(true);
        const config = yaml.load(userData.value as string) as any;
        expect(config.ssh_keys).toEqual({
          ed25519_private: key.state.privateKeyOpenssh,
          ed25519_public: key.state.publicKeyOpenssh.trim(),
        });
        expect(config).toMatchObject({ ssh_deletekeys: true, ssh_genkeytypes: [] });
      }
      expect(new Set(ofType(run, T.hostKey).map((k) => k.state.publicKeyOpenssh)).size).toBe(s.hosts);
    });

    test("the outputs hostAddresses and hostKeys: each host's Elastic IP and the host key line to pin (not secret: none is)", () => {
      expect([run.exports.hostAddresses.secret, run.exports.hostKeys.secret]).toEqual([false, false]);
      expect(run.exports.hostAddresses.value).toEqual(hosts.map((name) => r(`${name}-eip`).state.publicIp));
      expect(run.exports.hostKeys.value).toEqual(hosts.map((name) => r(`${name}-host-key`).state.publicKeyOpenssh.trim()));
      for (const k of run.exports.hostKeys.value as string[]) expect(k).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$/);
    });

    test("the Elastic IPs and the load balancer wait for the public subnets' routes to the internet gateway", () => {
      for (const [i, name] of hosts.entries()) expect(r(name).options.dependencies).toContain(r(`net-public-${i % s.zones}-rt`).urn);
      for (const i of zones) expect(r("web-alb").options.dependencies).toContain(r(`net-public-${i}-rt`).urn);
      expect(r("net-public-rt").options.dependencies).toContain(r("net-igw").urn);
    });
  });

  describe("load balancer", () => {
    test("internet-facing dual-stack ALB in every public subnet, invalid headers dropped, deletion protection = protect", () => {
      const alb = r("web-alb");
      expect(alb.inputs).toMatchObject({
        loadBalancerType: "application",
        internal: false,
        ipAddressType: "dualstack",
        dropInvalidHeaderFields: true,
        enableDeletionProtection: s.protect,
        securityGroups: [r("web-sg").id],
        subnets: ids(zones.map((i) => `net-public-${i}`)),
      });
      expect(alb.inputs.subnets.length).toBeGreaterThanOrEqual(2);
      expect(alb.options.protect).toBe(s.protect);
    });

    test("its security group: 80 and 443 from the world (IPv4 and IPv6), out only to port 80 inside the VPC", () => {
      const sg = r("web-sg").inputs;
      const world = (port: number, description: string) => ({
        protocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrBlocks: ["0.0.0.0/0"],
        ipv6CidrBlocks: ["::/0"],
        description,
      });
      expect(sg.ingress).toEqual([world(80, "http"), world(443, "https")]);
      expect(sg.egress).toEqual([
        { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["10.0.0.0/16"], description: "to the app hosts" },
      ]);
    });

    test("certificate for the apex and www, DNS-validated with records in the zone; the HTTPS listener depends on the validation", () => {
      const cert = r("web-cert");
      expect(cert.inputs).toMatchObject({ domainName: s.domain, subjectAlternativeNames: [`www.${s.domain}`], validationMethod: "DNS" });
      const options = cert.state.domainValidationOptions as any[];
      const records = [0, 1].map((i) => r(`web-validation-${i}`));
      expect(records.map((x) => [x.inputs.zoneId, x.inputs.name, x.inputs.type, x.inputs.records])).toEqual(
        options.map((o) => [ZONE_ID, o.resourceRecordName, "CNAME", [o.resourceRecordValue]]),
      );
      const validation = r("web-cert-validation");
      expect(validation.inputs).toEqual({ certificateArn: cert.state.arn, validationRecordFqdns: records.map((x) => x.state.fqdn) });
      const https = r("web-https");
      expect(https.options.dependencies).toContain(validation.urn);
      expect(https.seq).toBeGreaterThan(validation.seq);
      expect(https.inputs).toMatchObject({
        loadBalancerArn: r("web-alb").state.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        certificateArn: cert.state.arn,
        defaultActions: [{ type: "forward", targetGroupArn: r("web-tg").state.arn }],
      });
    });

    test("HTTP redirects to HTTPS (301); on HTTPS the apex redirects to www (301, path and query kept)", () => {
      expect(r("web-http").inputs).toMatchObject({
        port: 80,
        protocol: "HTTP",
        defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
      });
      expect(r("web-apex-to-www").inputs).toMatchObject({
        listenerArn: r("web-https").state.arn,
        conditions: [{ hostHeader: { values: [s.domain] } }],
        actions: [
          {
            type: "redirect",
            redirect: { host: `www.${s.domain}`, path: "/#{path}", query: "#{query}", protocol: "HTTPS", statusCode: "HTTP_301" },
          },
        ],
      });
    });

    test("target group: HTTP 80 instances, 45 s deregistration delay, health check on /healthz", () => {
      expect(r("web-tg").inputs).toMatchObject({
        vpcId: r("net-vpc").id,
        targetType: "instance",
        protocol: "HTTP",
        port: 80,
        deregistrationDelay: 45,
        healthCheck: { path: "/healthz", protocol: "HTTP", matcher: "200" },
      });
    });

    test("alias A and AAAA records for the apex and www point at the load balancer", () => {
      const alb = r("web-alb").state;
      const aliases = ofType(run, T.record).filter((x) => x.inputs.aliases);
      expect(aliases.map((x) => [x.inputs.name, x.inputs.type]).sort()).toEqual(
        [
          [s.domain, "A"],
          [s.domain, "AAAA"],
          [`www.${s.domain}`, "A"],
          [`www.${s.domain}`, "AAAA"],
        ].sort(),
      );
      for (const x of aliases) {
        expect(x.inputs.zoneId).toBe(ZONE_ID);
        expect(x.inputs.aliases).toEqual([{ name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: true }]);
      }
    });
  });

  describe("database and cache", () => {
    test("their security groups admit only the app hosts' group, on their own port, and nothing goes out", () => {
      for (const [name, port] of [
        ["db-sg", 5432],
        ["cache-sg", 6379],
      ] as const) {
        const sg = r(name).inputs;
        expect(sg.vpcId).toBe(r("net-vpc").id);
        expect(sg.ingress).toEqual([
          { protocol: "tcp", fromPort: port, toPort: port, securityGroups: [r("app-sg").id], description: expect.any(String) },
        ]);
        expect(sg.egress ?? []).toEqual([]);
      }
    });

    test("RDS: in the data subnets, TLS forced, encrypted, private, 7 days of backups, Multi-AZ and deletion protection with protect", () => {
      expect(r("db-subnets").inputs.subnetIds).toEqual(ids(zones.map((i) => `net-data-${i}`)));
      expect(r("db-params").inputs).toMatchObject({ family: "postgres16", parameters: [{ name: "rds.force_ssl", value: "1" }] });
      const db = r("db-db");
      expect(db.inputs).toMatchObject({
        engine: "postgres",
        engineVersion: "16",
        storageEncrypted: true,
        publiclyAccessible: false,
        backupRetentionPeriod: 7,
        multiAz: s.protect,
        deletionProtection: s.protect,
        skipFinalSnapshot: false,
        dbSubnetGroupName: r("db-subnets").state.name,
        parameterGroupName: r("db-params").state.name,
        vpcSecurityGroupIds: [r("db-sg").id],
      });
      expect(db.inputs.finalSnapshotIdentifier).toMatch(/^db-final-[0-9a-f]{8}$/);
      expect(db.options.protect).toBe(s.protect);
      expect(isWrappedSecret(db.wire.password)).toBe(true);
      expect(r("db-password").inputs).toMatchObject({ length: 40, special: false });
    });

    test("Redis: in the data subnets, encrypted at rest and in transit (required), AUTH token, failover only with replicas", () => {
      expect(r("cache-subnets").inputs.subnetIds).toEqual(ids(zones.map((i) => `net-data-${i}`)));
      const group = r("cache-redis");
      expect(group.inputs).toMatchObject({
        engine: "redis",
        atRestEncryptionEnabled: true,
        transitEncryptionEnabled: true,
        transitEncryptionMode: "required",
        numCacheClusters: 1 + s.cacheReplicas,
        automaticFailoverEnabled: s.cacheReplicas > 0,
        multiAzEnabled: s.cacheReplicas > 0,
        subnetGroupName: r("cache-subnets").state.name,
        securityGroupIds: [r("cache-sg").id],
      });
      expect(isWrappedSecret(group.wire.authToken)).toBe(true);
      expect(group.options.protect).toBe(s.protect);
    });
  });

  describe("buckets and the hosts' role", () => {
    test("both buckets private: public access blocked, ACLs off, SSE-S3, only a deny-without-TLS policy", () => {
      for (const b of ["site-files-media", "site-files-backup"]) {
        const bucket = r(b);
        expect([b, bucket.options.protect, bucket.inputs.forceDestroy]).toEqual([b, s.protect, !s.protect]);
        for (const inline of ["policy", "acl", "grants", "website", "corsRules"]) expect(bucket.inputs).not.toHaveProperty(inline);
        expect(r(`${b}-public-access`).inputs).toEqual({
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        });
        expect(r(`${b}-ownership`).inputs).toEqual({ bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
        expect(r(`${b}-encryption`).inputs.rules).toEqual([
          { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, blockedEncryptionTypes: ["SSE-C"] },
        ]);
        expect(r(`${b}-policy`).inputs).toEqual({ bucket: bucket.id, policy: tlsOnlyBucketPolicy(bucket.state.arn) });
        expect(r(`${b}-policy`).options.dependencies).toContain(r(`${b}-public-access`).urn);
      }
      expect(ofType(run, T.bucketPolicy)).toHaveLength(2);
    });

    test("the backup bucket keeps versions and expires noncurrent ones after 30 days; the lifecycle waits for versioning", () => {
      const backup = r("site-files-backup");
      expect(r("site-files-backup-versioning").inputs).toEqual({ bucket: backup.id, versioningConfiguration: { status: "Enabled" } });
      const lifecycle = r("site-files-backup-lifecycle");
      expect(lifecycle.inputs).toEqual({ bucket: backup.id, rules: backupLifecycleRules(30) });
      expect(lifecycle.options.dependencies).toContain(r("site-files-backup-versioning").urn);
      expect(run.registrations.filter((x) => x.name.startsWith("site-files-media-")).map((x) => x.name)).not.toContain(
        "site-files-media-versioning",
      );
    });

    test("the role: only EC2 may assume it; its one policy names only the two buckets' ARNs (backup: put only)", () => {
      expect(r("site-host-role").inputs.assumeRolePolicy).toBe(ec2AssumeRolePolicy());
      const policy = r("site-host-buckets");
      expect(policy.inputs.role).toBe(r("site-host-role").state.name);
      const media = r("site-files-media").state.arn as string;
      const backup = r("site-files-backup").state.arn as string;
      expect(JSON.parse(policy.inputs.policy)).toEqual(hostBucketPolicy({ mediaBucketArn: media, backupBucketArn: backup }));
      const resources = (JSON.parse(policy.inputs.policy).Statement as { Resource: string[] }[]).flatMap((st) => st.Resource);
      expect(new Set(resources)).toEqual(new Set([media, `${media}/*`, `${backup}/*`]));
      expect(r("site-host-profile").inputs.role).toBe(r("site-host-role").state.name);
      // No other way to grant the hosts anything.
      const iam = run.registrations.filter((x) => x.type.startsWith("aws:iam/")).map((x) => x.type);
      expect(iam.sort()).toEqual(["aws:iam/instanceProfile:InstanceProfile", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"]);
    });
  });

  test("tags: every taggable AWS resource carries Project, Stack, ManagedBy and a Name", () => {
    // Types without tags in @pulumi/aws 7 (the rest must carry them).
    const untaggable = [
      T.association,
      T.attachment,
      T.record,
      T.bucketPolicy,
      "aws:acm/certificateValidation:CertificateValidation",
      "aws:iam/rolePolicy:RolePolicy",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketVersioning:BucketVersioning",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ];
    const tags = { Project: "django-deploy", Stack: s.stack, ManagedBy: "pulumi" };
    const taggable = run.registrations.filter((x) => x.custom && x.type.startsWith("aws:") && !untaggable.includes(x.type));
    expect(taggable.length).toBeGreaterThan(30);
    for (const x of taggable)
      expect([x.name, x.inputs.tags]).toEqual([
        x.name,
        { ...tags, Name: x.name, ...(x.type === T.subnet ? { "django-deploy:tier": expect.any(String) } : {}) },
      ]);
    for (const x of run.registrations.filter((y) => untaggable.includes(y.type)))
      expect([x.name, x.inputs.tags]).toEqual([x.name, undefined]);
  });

  test("protect: the load balancer, hosts, Elastic IPs, database, cache and buckets exactly when the stack protects", () => {
    const expected = s.protect
      ? ["web-alb", "db-db", "cache-redis", "site-files-media", "site-files-backup", ...hosts, ...hosts.map((h) => `${h}-eip`)].sort()
      : [];
    expect(
      run.registrations
        .filter((x) => x.options.protect)
        .map((x) => x.name)
        .sort(),
    ).toEqual(expected);
  });
});

describe("stack options", () => {
  test("sshAllowWorld: the hosts' group opens SSH to the world and carries the opt-in tag the policy pack reads", async () => {
    const run = await runAwsStack(AWS_STACKS.small, { sshAllowWorld: true, sshAllowedCidrs: ["0.0.0.0/0", "::/0"] });
    expect(run.error).toBeUndefined();
    const sg = run.byName("app-sg").inputs;
    expect(sg.tags[SSH_ALLOW_WORLD_TAG]).toBe("true");
    expect(sg.ingress[0]).toMatchObject({ fromPort: 22, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] });
  });

  test("SSH from the world without the opt-in is refused before any host exists", async () => {
    const run = await runAwsStack(AWS_STACKS.small, { sshAllowedCidrs: ["0.0.0.0/0"] });
    expect(run.error?.message).toMatch(/sshAllowedCidrs: 0\.0\.0\.0\/0 opens SSH to the whole IPv4 internet/);
    expect(run.registrations.filter((x) => x.type === T.instance)).toEqual([]);
  });

  test("one zone is refused before anything exists: a load balancer needs two (FSBP ELB.13)", async () => {
    const run = await runAwsStack(AWS_STACKS.small, { zones: 1 });
    expect(run.error?.message).toMatch(/zones: must be a whole number from 2 to 6 \(got "1"\)/);
    expect(run.registrations.filter((x) => x.type.startsWith("aws:"))).toEqual([]);
  });
});
