/**
 * Debian packages on a test host, installed with apt from the mirror the host reaches (the same as
 * this machine's). Nothing provisioned is cached: a stand-in installs its packages on every fresh
 * host, as the program does on a new instance.
 */
import { TestHost } from "./testhost";

const PACKAGE = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$/;

/** The script aptInstall runs as root (bash -s): update the lists once per host, then install. */
export function aptInstallScript(packages: string[]): string {
  for (const p of packages) if (!PACKAGE.test(p)) throw new Error(`bad Debian package name ${JSON.stringify(p)}`);
  if (packages.length === 0) throw new Error("no packages to install");
  return [
    "set -euo pipefail",
    "export DEBIAN_FRONTEND=noninteractive",
    // A fresh host has no lists (the root filesystem is built without them, like a new instance).
    "if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' | grep -q .; then",
    "  apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null",
    "fi",
    `apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 ${packages.join(" ")} >/dev/null`,
    "",
  ].join("\n");
}

/** Install Debian packages on a host (apt-get update first on a fresh host). Throws with apt's output. */
export async function aptInstall(host: TestHost, packages: string[], timeoutMs = 10 * 60_000): Promise<void> {
  await host.run("sudo bash -s", { stdin: aptInstallScript(packages), timeoutMs });
}
