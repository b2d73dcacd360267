/**
 * The building blocks of the configuration schema (config-schema.ts, config-scale.ts): the patterns
 * every value must match to be safe in a shell script, an nginx or a supervisord file, and the zod
 * wrappers that decode Pulumi's JSON-encoded values and word their errors the same way.
 */
import { z } from "zod";

const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
export const DOMAIN = new RegExp(`^(?=.{4,253}$)(?:${label}\\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$`);
export const HOSTNAME = new RegExp(`^(?=.{1,253}$)${label}(?:\\.${label})*$`);
export const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
export const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
export const SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const GIT_URL =
  /^(?:(?:https|http|ssh|git):\/\/(?:[A-Za-z0-9._~%+-]+(?::[A-Za-z0-9._~%+-]*)?@)?[A-Za-z0-9.-]+(?::\d{1,5})?(?:\/[A-Za-z0-9._~%+@-]+)*\/?|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~+-][A-Za-z0-9._~+/-]*)$/;
export const GIT_REF = /^(?!.*\.\.)(?!.*\/\/)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
export const PY_DOTTED = /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SSH_PUBLIC_KEY = /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,3}(?: [\x21-\x7e ]{0,200})?$/;
export const PRIVATE_KEY = /^-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=:,\- \r\n]+\r?\n-----END [A-Z ]*PRIVATE KEY-----\s*$/;
export const PEM_CERTS = /^(?:-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+$/;
// Debian policy 5.6.1: at least two characters, lowercase letters, digits, + - . , starting with a letter or digit.
// apt reads a trailing "-" as "remove this package" (openssh-server- removes sshd): the last one may
// not be "-" or "."; a trailing "+" (g++) only ever means install.
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]*[a-z0-9+]$/;
export const REPO_TOKEN = /^[\x21-\x7e]{1,1024}$/;
export const NGINX_SIZE = /^(?:0|[1-9][0-9]{0,5}[kKmMgG]?)$/;
export const URL_PREFIX = /^\/[A-Za-z0-9._~/-]{0,200}$/;
export const ABS_PATH = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)+$/;
/** An S3 bucket name (lower case, digits, dots and dashes; no IP-like names are checked here). */
export const S3_BUCKET = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Decode a JSON-encoded config value (Pulumi passes objects, lists, numbers and booleans as JSON). */
export function json<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value; // left for the schema to reject with its own message
    }
  }, schema);
}

export const bool = (description: string, def: boolean) =>
  json(z.boolean({ error: "must be true or false" }))
    .default(def)
    .describe(description);

export const int = (description: string, min: number, max: number) =>
  json(
    z
      .number({ error: `must be a whole number from ${min} to ${max}` })
      .int(`must be a whole number from ${min} to ${max}`)
      .min(min, `must be a whole number from ${min} to ${max}`)
      .max(max, `must be a whole number from ${min} to ${max}`),
  ).describe(description);

export const pattern = (re: RegExp, valid: string) => z.string({ error: `must be ${valid}` }).regex(re, `must be ${valid}`);

export const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be a CIDR block such as 203.0.113.4/32 or 2001:db8::/48" });
