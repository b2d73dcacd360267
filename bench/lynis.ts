/**
 * Hardening figures (`npm run bench:lynis`): Lynis's hardening index of a stock Debian 12 host (the
 * test host as booted, like a fresh Debian AMI instance) next to the same host after a full
 * django-deploy apply. Prints both indexes and the provisioned host's warnings and suggestions;
 * docs/hardening.md records them.
 */
import { apply } from "../sandbox/runner";
import { startLocalSite } from "../sandbox/local-site";
import { TestHost, startTestHost } from "../sandbox/hosts/testhost";

async function lynis(host: TestHost): Promise<{ index: number; warnings: string[]; suggestions: string[] }> {
  await host.run(
    "sudo apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends lynis >/dev/null",
  );
  await host.run("sudo lynis audit system --quick --no-colors --quiet >/dev/null 2>&1 || true");
  const report = await host.run("sudo cat /var/log/lynis-report.dat");
  const values = (key: string) =>
    report
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  const index = Number(values("hardening_index")[0]);
  if (!Number.isFinite(index)) throw new Error("lynis wrote no hardening_index");
  return { index, warnings: values("warning[]"), suggestions: values("suggestion[]") };
}

async function main() {
  const stock = await startTestHost(81, "lystock");
  let stockResult;
  try {
    stockResult = await lynis(stock);
  } finally {
    await stock.stop();
  }
  const site = await startLocalSite({ index: 82, name: "lyprov" });
  try {
    const r = await apply(site.run());
    if (r.error) throw new Error(r.error);
    const prov = await lynis(site.host);
    console.log("| host | Lynis hardening index | warnings | suggestions |\n| --- | --- | --- | --- |");
    console.log(
      `| stock Debian 12 (fresh test host) | ${stockResult.index} | ${stockResult.warnings.length} | ${stockResult.suggestions.length} |`,
    );
    console.log(`| after django-deploy | ${prov.index} | ${prov.warnings.length} | ${prov.suggestions.length} |`);
    console.log("\nProvisioned host, warnings:");
    for (const w of prov.warnings) console.log(`- ${w}`);
    console.log("\nProvisioned host, suggestions:");
    for (const s of prov.suggestions) console.log(`- ${s}`);
  } finally {
    await site.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
