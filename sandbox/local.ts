/**
 * `npm run sandbox`: the whole deployment on this machine, no cloud account. Boots a fresh local
 * Debian 12 host, deploys the sample project onto it with the real program, prints how to reach it,
 * and tears everything down on Ctrl-C. Needs root (systemd-nspawn, network namespaces).
 */
import { apply } from "./runner";
import { startLocalSite } from "./local-site";

async function main() {
  console.log("Booting a fresh Debian 12 host (the first run builds its root filesystem: a minute or two)…");
  const site = await startLocalSite({ index: 60, name: "sandbox", workDir: undefined });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping the host, the git daemon and Pebble…");
    await site.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  console.log(`Host ${site.host.ip} is up. Deploying example.com (log: ${site.workDir}/pulumi.log)…`);
  const result = await apply(site.run());
  for (const s of result.executed)
    console.log(`  ${s.ok ? "ok  " : "FAIL"} ${s.op.padEnd(7)} ${s.name.padEnd(22)} ${(s.ms / 1000).toFixed(1)} s`);
  if (result.error) {
    console.error(`\nThe deployment failed:\n${result.error}`);
    await stop();
    return;
  }
  const ip = site.host.ip;
  console.log(`
Deployed in ${(result.totalMs / 1000).toFixed(0)} s. The site answers on ${ip} for www.example.com:
  curl -k --resolve www.example.com:443:${ip} https://www.example.com/          # homepage
  curl -k --resolve www.example.com:443:${ip} https://www.example.com/celery    # a Celery round trip
  curl -k --resolve www.example.com:443:${ip} https://www.example.com/version
  ssh -i ${site.host.privateKeyPath} -o UserKnownHostsFile=${site.host.knownHostsPath} ${site.host.user}@${ip}
(-k: the certificate comes from the local Pebble CA.) State and log: ${site.workDir}
Press Ctrl-C to stop and remove everything.`);
  // A pending promise alone does not keep Node running: hold the event loop open until Ctrl-C.
  setInterval(() => undefined, 1 << 30);
}

main().catch(async (e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
