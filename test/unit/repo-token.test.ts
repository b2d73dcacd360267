/**
 * repoToken: the checkout's credential helper, run by the real git (`git credential fill`, no
 * network): it answers with repoTokenUser and the token from git's environment for repoUrl's scheme,
 * host and port only; no other helper (a system or global one that could store it) is asked; the
 * token is in no command line of the rendered script.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoTokenHelper } from "../../components/host-files";
import { FAKE_REPO_TOKEN, existingHostBase, parse, scriptOf, tlsCeleryRaw } from "./lib/fixtures";

const home = fs.mkdtempSync(path.join(os.tmpdir(), "repo-token-"));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

/** `git credential <action>` as the checkout runs git: the helper from the rendered script, a global config with a storing helper. */
function credential(repoUrl: string, action: string, input: string, tokenUser = "x-access-token") {
  const s = parse({ ...existingHostBase(), repoUrl, repoToken: FAKE_REPO_TOKEN, repoTokenUser: tokenUser });
  const { tokenScope, tokenHelper } = repoTokenHelper(s);
  const global = path.join(home, "gitconfig");
  fs.writeFileSync(global, `[credential]\n\thelper = store --file ${path.join(home, "stored")}\n`);
  const r = spawnSync("git", ["-c", "credential.helper=", "-c", `credential.${tokenScope}.helper=${tokenHelper}`, "credential", action], {
    input,
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      HOME: home,
      GIT_CONFIG_GLOBAL: global,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      DJANGO_DEPLOY_REPO_TOKEN: FAKE_REPO_TOKEN,
    },
  });
  return { ...r, tokenScope, tokenHelper };
}

test("the helper answers for repoUrl's host with repoTokenUser and the token", () => {
  const r = credential("https://git.example.com/team/x.git", "fill", "protocol=https\nhost=git.example.com\npath=team/x.git\n", "oauth2");
  expect(r.tokenScope).toBe("https://git.example.com");
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`username=oauth2\npassword=${FAKE_REPO_TOKEN}\n`);
  // The helper holds the variable's name, never the token.
  expect(r.tokenHelper).not.toContain(FAKE_REPO_TOKEN);
});

test("a port is part of the scope: the same host on another port gets nothing", () => {
  const ok = credential("https://git.example.com:8443/x.git", "fill", "protocol=https\nhost=git.example.com:8443\n");
  expect(ok.stdout).toContain(`password=${FAKE_REPO_TOKEN}`);
  const other = credential("https://git.example.com:8443/x.git", "fill", "protocol=https\nhost=git.example.com\n");
  expect(other.status).not.toBe(0);
  expect(other.stdout).not.toContain(FAKE_REPO_TOKEN);
});

test.each([
  ["another host (a submodule elsewhere)", "protocol=https\nhost=evil.example.net\n"],
  ["a host that only starts like it", "protocol=https\nhost=git.example.com.evil.example.net\n"],
  ["plain http to the same host", "protocol=http\nhost=git.example.com\n"],
])("%s gets no token", (_label, input) => {
  const r = credential("https://git.example.com/x.git", "fill", input);
  expect(r.status).not.toBe(0);
  expect(r.stdout).not.toContain(FAKE_REPO_TOKEN);
});

test("after a successful fetch git's approve reaches no helper that stores it (the global store helper is reset)", () => {
  const r = credential(
    "https://git.example.com/x.git",
    "approve",
    `protocol=https\nhost=git.example.com\nusername=x-access-token\npassword=${FAKE_REPO_TOKEN}\n`,
  );
  expect(r.status).toBe(0);
  expect(fs.existsSync(path.join(home, "stored"))).toBe(false);
});

test("the rendered checkout carries the token in no command line: it reads it on stdin and passes it in git's environment", () => {
  const script = scriptOf(parse(tlsCeleryRaw()), "code-checkout");
  expect(script).not.toContain(FAKE_REPO_TOKEN);
  expect(script).toMatch(/^IFS= read -r repo_token \|\| true$/m);
  expect(script).toContain("DJANGO_DEPLOY_REPO_TOKEN=$repo_token sudo -H -u django-build --preserve-env=DJANGO_DEPLOY_REPO_TOKEN -- ");
  expect(execFileSync("bash", ["-n"], { input: script })).toBeDefined();
});
