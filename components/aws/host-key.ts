/**
 * SSH host keys known before the first connection: the program generates a host's ed25519 key
 * pair (@pulumi/tls PrivateKey) and hands it to the instance at first boot through cloud-init user
 * data, so every connection can pin the host key (pulumi-command's `connection.hostKey`, which
 * also restricts the offered host key algorithms to that key's type) instead of trusting whatever
 * answers at the Elastic IP.
 *
 * @pulumi/tls is pinned exactly (package.json) like every dependency, and deliberately: the SDK
 * version fixes the provider plugin the Pulumi CLI downloads, i.e. the code that generates the keys.
 *
 * Where the private key goes, and who can read it:
 * - Pulumi state: the key and the user data are secrets (encrypted with the stack's secrets provider).
 * - EC2 keeps user data with the instance for its lifetime. Any principal allowed
 *   ec2:DescribeInstanceAttribute on the instance can read it (base64, not encrypted), and on the
 *   host itself any local user or process can read it from the instance metadata service (IMDSv2
 *   only needs a PUT from the host). That is the same audience that can already take the instance
 *   role's credentials from IMDS, and the key only proves the host's identity to SSH clients; the
 *   trade-off is accepted against trust-on-first-use. Restrict DescribeInstanceAttribute in the
 *   account, and keep IMDS from non-root users (e.g. an nftables rule on 169.254.169.254 by uid) if
 *   local users are not trusted.
 * - The key pair never changes without the instance being replaced (`userDataReplaceOnChange`):
 *   cloud-init installs keys once per instance, so a new key in the user data of a running
 *   instance would never reach sshd, and every connection pinned to it would fail.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as yaml from "js-yaml";

/** The cloud-config (cloud-init user data) that installs exactly this ed25519 host key and no other. */
export function hostKeyCloudConfig(privateKeyOpenssh: string, publicKeyOpenssh: string): string {
  const publicLine = openSshPublicKeyLine(publicKeyOpenssh);
  if (!publicLine.startsWith("ssh-ed25519 ")) throw new Error("host key: expected an ssh-ed25519 public key");
  if (!/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n?$/.test(privateKeyOpenssh)) {
    throw new Error("host key: expected an OpenSSH private key");
  }
  const config = {
    // Remove the image's host keys, install ours, generate no other type: sshd then has only this key.
    ssh_deletekeys: true,
    ssh_genkeytypes: [] as string[],
    ssh_keys: {
      ed25519_private: privateKeyOpenssh.endsWith("\n") ? privateKeyOpenssh : `${privateKeyOpenssh}\n`,
      ed25519_public: publicLine,
    },
  };
  return `#cloud-config\n${yaml.dump(config, { lineWidth: -1 })}`;
}

/** An OpenSSH public key as one `authorized_keys`-style line without comment or newline ("ssh-ed25519 AAAA…"). */
export function openSshPublicKeyLine(publicKeyOpenssh: string): string {
  const [type, body] = publicKeyOpenssh.trim().split(/\s+/);
  if (!type || !body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error("host key: not an OpenSSH public key line");
  return `${type} ${body}`;
}

export interface BootHostKey {
  /** The host's public key line, for `connection.hostKey` and known_hosts. Not secret. */
  publicKey: pulumi.Output<string>;
  /** The cloud-config to pass as the instance's `userData` (secret: it holds the private key). */
  userData: pulumi.Output<string>;
}

/**
 * A generated ed25519 host key for one host (child `${name}-host-key` of `parent`) and the user
 * data that installs it. Pass `userData` to the instance with `userDataReplaceOnChange: true`.
 */
export function bootHostKey(name: string, parent: pulumi.Resource): BootHostKey {
  const key = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent });
  // The provider marks the private key secret; say so here too rather than rely on it.
  const privateKey = pulumi.secret(key.privateKeyOpenssh);
  return {
    publicKey: key.publicKeyOpenssh.apply(openSshPublicKeyLine),
    userData: pulumi.secret(pulumi.all([privateKey, key.publicKeyOpenssh]).apply(([priv, pub]) => hostKeyCloudConfig(priv, pub))),
  };
}
