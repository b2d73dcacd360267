/**
 * The policy pack against the program's real registrations: index.ts runs under mocks with the dev
 * and the prod stack files, and every registered resource (inputs with secrets unwrapped, `protect`
 * as the engine receives it) goes through every policy of the pack, resource policies and stack
 * policies alike — what `pulumi preview --policy-pack policy` would judge, without the CLI
 * (the adapter: policy-judge.ts).
 */
import { everyPolicyJudged, judge } from "./policy-judge";
import { ProgramRun, runProgram, stackConfig } from "./harness";

describe.each(["dev", "prod"])("the %s stack's registrations pass every policy of the pack", (stack) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stackConfig(stack), { stack });
    expect(run.error).toBeUndefined();
  });

  test("no violation, mandatory or advisory", async () => {
    expect(await judge(run)).toEqual([]);
  });

  test("the same registrations with IMDSv1 and SSH open to the world are caught (so a clean result means something)", async () => {
    const broken = {
      ...run,
      registrations: run.registrations.map((r) => {
        if (r.type === "aws:ec2/instance:Instance")
          return { ...r, inputs: { ...r.inputs, metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } } };
        if (r.type === "aws:ec2/securityGroup:SecurityGroup") {
          const ingress = (r.inputs.ingress as Record<string, unknown>[]).map((rule) =>
            rule.description === "ssh" ? { ...rule, cidrBlocks: ["0.0.0.0/0"] } : rule,
          );
          return { ...r, inputs: { ...r.inputs, ingress } };
        }
        return r;
      }),
    };
    const found = await judge(broken);
    expect(found).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ec2-instance-imdsv2 server-instance: /), expect.stringMatching(/server-sg: .*SSH/)]),
    );
  });
});

test("every policy of the pack is a resource or a stack policy (none is skipped by the adapter in policy-judge.ts)", () => {
  for (const [name, judged] of everyPolicyJudged()) expect([name, judged]).toEqual([name, true]);
});
