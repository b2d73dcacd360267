/**
 * Documentation of the configuration, derived from the one schema: the `config:` block of
 * Pulumi.yaml and the table in README.md. `npm run docs` writes both; a test keeps the
 * committed files in sync with the schema.
 */
import { CONFIG_KEYS, ConfigKey, SECRET_KEYS, configSchema } from "./config-schema";
import { configJsonSchema } from "./config";

export interface KeyDoc {
  key: ConfigKey;
  type: "string" | "integer" | "boolean" | "array" | "object";
  description: string;
  default?: unknown;
  secret: boolean;
}

export function keyDocs(): KeyDoc[] {
  const props = (configJsonSchema().properties ?? {}) as Record<string, { type?: string; description?: string }>;
  return CONFIG_KEYS.map((key) => {
    const field = configSchema.shape[key] as { description?: string; safeParse(v: unknown): { success: boolean; data?: unknown } };
    const parsed = field.safeParse(undefined);
    const type = (props[key]?.type ?? "object") as KeyDoc["type"];
    const description = field.description ?? props[key]?.description ?? "";
    return {
      key,
      type,
      description,
      ...(parsed.success && parsed.data !== undefined ? { default: parsed.data } : {}),
      secret: (SECRET_KEYS as readonly string[]).includes(key),
    };
  });
}

/** The `config:` section of Pulumi.yaml (YAML text). */
export function pulumiYamlConfig(): string {
  const lines = ["config:"];
  for (const d of keyDocs()) {
    lines.push(`  ${d.key}:`);
    // Pulumi's project config types are string, integer, boolean and array; objects stay untyped.
    if (d.type !== "object") lines.push(`    type: ${d.type}`);
    if (d.type === "array") lines.push("    items:", "      type: string");
    lines.push(`    description: ${JSON.stringify(d.description)}`);
    if (d.secret) lines.push("    secret: true");
    if (d.default !== undefined && !Array.isArray(d.default)) lines.push(`    default: ${JSON.stringify(d.default)}`);
  }
  return lines.join("\n") + "\n";
}

/** The configuration table of README.md (Markdown). */
export function readmeTable(): string {
  const rows = keyDocs().map((d) => {
    const def = d.default === undefined ? (d.secret ? "secret" : "—") : `\`${JSON.stringify(d.default)}\``;
    return `| \`${d.key}\` | ${d.type} | ${def} | ${d.description.replace(/\|/g, "\\|")} |`;
  });
  return ["| key | type | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n") + "\n";
}
