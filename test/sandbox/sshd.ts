/**
 * A private, throwaway sshd for the sandbox tests: 127.0.0.1 on a free high port, temp host key and authorized
 * key, `sshd -D -e -f <temp config>`; needs root and openssh-server (`apt-get install -y openssh-server`; the
 * system service is never enabled or started). `stop()` kills only the PID started here.
 * It accepts the environment names SANDBOX_* and PULUMI_COMMAND_* (AcceptEnv); Debian's stock sshd accepts only
 * LANG and LC_*, so there `environment` fails a step and PULUMI_COMMAND_STDOUT/STDERR are silently not set.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface Sshd {
  port: number;
  privateKey: string;
  hostKey: string;
  dir: string;
  stop(): Promise<void>;
}
const SSHD = "/usr/sbin/sshd";

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net
      .createServer()
      .listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      })
      .on("error", reject);
  });
const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net
      .connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      })
      .on("error", () => resolve(false));
  });

export async function startSshd(): Promise<Sshd> {
  if (!fs.existsSync(SSHD)) throw new Error(`${SSHD} missing: apt-get install -y openssh-server`);
  if (process.getuid?.() !== 0) throw new Error("the sandbox tests start a private sshd and must run as root");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-sshd-"));
  for (const k of ["host_key", "client_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, k)]);
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      `PidFile ${dir}/sshd.pid`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "AcceptEnv SANDBOX_* PULUMI_COMMAND_*",
      "Subsystem sftp internal-sftp",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const proc = spawn(SSHD, ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; !(await canConnect(port)); i++) {
    if (proc.exitCode !== null || i > 100) throw new Error(`sshd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const [type, blob] = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").split(" ");
  return {
    port,
    dir,
    privateKey: fs.readFileSync(path.join(dir, "client_key"), "utf8"),
    hostKey: `${type} ${blob}`,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
