/** One wrk run against the sample site (Host www.example.com): requests/s and mean latency, or an error when any answer was not 2xx/3xx. */
import { execFileSync } from "child_process";

export function wrk(url: string, durationS: number): { rps: number; latency: string } {
  const out = execFileSync("wrk", ["-t2", "-c16", `-d${durationS}s`, "-H", "Host: www.example.com", url], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const latency = /Latency\s+(\S+)/.exec(out)?.[1] ?? "?";
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  if (!rps || non2xx) throw new Error(`wrk ${url}: no clean result\n${out}`);
  return { rps, latency };
}
