/**
 * The one renderer that sees secrets: the files whose content is secret (`.server.envrc`, the
 * repository deploy key), rendered into the standard input of the step that installs them, and the
 * repository token, on the standard input of the checkout that fetches with it. Nothing
 * here ever reaches a command string; every result is a secret Output.
 */
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type { Secrets, Settings } from "./config";
import { databaseUrl, dataStdin } from "./data-secrets";
import { templateContext } from "./host-files";
import { layoutOf } from "./layout";
import type { SecretInput } from "./plan";
import { render } from "./templates";

/** `.server.envrc`: the server settings, `appEnv` included. The only template that receives secrets (`it.env`). */
export function renderServerEnv(s: Settings, appEnv: Record<string, string>): string {
  return render("server.envrc", { ...templateContext(s), env: appEnv });
}

/** The standard input of each step that reads a secret, as secret Outputs (a deploy key only when configured). */
export type SecretStdin = { serverEnv: pulumi.Output<string> } & Partial<Record<SecretInput, pulumi.Output<string>>>;

/**
 * With database: host, `databasePassword` (the RandomPassword's result) becomes DATABASE_URL in
 * `.server.envrc` (validation keeps appEnv from setting it too) and the role's verifier.
 */
export function secretStdin(
  s: Settings,
  secrets: Secrets,
  databasePassword?: pulumi.Output<string>,
  /** Settings the program writes for the services it creates (RDS, ElastiCache, the media bucket): validation keeps appEnv from setting them. */
  programEnv?: pulumi.Output<Record<string, string>>,
): SecretStdin {
  if (s.database === "host" && !databasePassword) throw new Error("database: host needs the generated database password");
  const withDatabase: pulumi.Output<Record<string, string>> =
    s.database === "host" && databasePassword
      ? pulumi
          .all([secrets.appEnv, databasePassword])
          .apply<Record<string, string>>(([appEnv, pw]) => ({ ...appEnv, DATABASE_URL: databaseUrl(layoutOf(s), pw) }))
      : secrets.appEnv;
  const env = programEnv
    ? pulumi.all([withDatabase, programEnv]).apply<Record<string, string>>(([e, p]) => ({ ...e, ...p }))
    : withDatabase;
  return {
    serverEnv: pulumi.secret(env.apply((e) => renderServerEnv(s, e))),
    ...(s.database === "host" && databasePassword ? dataStdin(databasePassword, secrets.backupS3Credentials) : {}),
    ...(secrets.repoDeployKey ? { deployKey: pulumi.secret(secrets.repoDeployKey.apply((k) => `${k.replace(/\n+$/, "")}\n`)) } : {}),
    // One line: the checkout reads it into a shell variable and hands it only to git's credential helper.
    ...(secrets.repoToken ? { repoToken: pulumi.secret(secrets.repoToken.apply((t) => `${t}\n`)) } : {}),
  };
}

/** A fingerprint of the server settings (secret): steps that must restart on new settings trigger on it. */
export function settingsFingerprint(serverEnv: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.secret(serverEnv.apply((text) => createHash("sha256").update(text).digest("hex")));
}
