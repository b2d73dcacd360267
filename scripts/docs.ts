/**
 * `npm run docs`: writes what the README and Pulumi.yaml say about the configuration and the steps,
 * from their one sources (components/config-schema.ts, components/plan.ts). Tests fail when a
 * committed file differs from what this writes.
 */
import * as fs from "fs";
import * as path from "path";
import { pulumiYamlConfig, readmeTable } from "../components/config-docs";
import { stepTable } from "../components/plan";

const ROOT = path.join(__dirname, "..");

/** Replace the Markdown table that starts with `header` (up to the next blank line) by `table`. */
export function replaceTable(text: string, header: string, table: string): string {
  const start = text.indexOf(header);
  if (start < 0) throw new Error(`no table starting with ${header}`);
  const end = text.indexOf("\n\n", start);
  return text.slice(0, start) + table.replace(/\n$/, "") + (end < 0 ? "\n" : text.slice(end));
}

export function writeDocs(): void {
  const readme = path.join(ROOT, "README.md");
  let text = fs.readFileSync(readme, "utf8");
  text = replaceTable(text, "| key | type | default | meaning |", readmeTable());
  text = replaceTable(text, "| step | component | does | notes |", stepTable());
  fs.writeFileSync(readme, text);
  const pulumiYaml = path.join(ROOT, "Pulumi.yaml");
  const yaml = fs.readFileSync(pulumiYaml, "utf8");
  fs.writeFileSync(pulumiYaml, yaml.slice(0, yaml.indexOf("config:\n")) + pulumiYamlConfig());
}

if (require.main === module) writeDocs();
