// authz-server/README.md's curl walkthrough ("Create a client and get a token"), run as written by bash with its
// database in a temporary folder and its port moved to a free one, so the page stays true.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "../../helpers/ports.ts";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../helpers.ts";
import { root } from "./helpers.ts";

/** The first ```sh block after the walkthrough's heading. */
function walkthrough(): string {
  const readme = readFileSync(join(root, "authz-server", "README.md"), "utf8");
  const section = readme.indexOf("## Create a client and get a token (curl)");
  assert.ok(section >= 0, "authz-server/README.md has no curl walkthrough");
  const start = readme.indexOf("```sh\n", section) + "```sh\n".length;
  return readme.slice(start, readme.indexOf("```\n", start));
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });

async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await refused(port))) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe("authz-server/README.md curl walkthrough", () => {
  const temp = tempDir();

  before(async () => {
    await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
  });
  after(() => temp.remove());

  it("runs as written beside the demo: its own database and port, a token, introspection, revocation, the server stopped", async () => {
    const script = walkthrough();
    assert.ok(script.includes("./data/walkthrough.db") && script.includes("9100"), script);
    const port = await freePort();
    const child = spawn(
      "bash",
      [
        "-euo",
        "pipefail",
        "-c",
        script.replaceAll("./data/walkthrough.db", join(temp.dir, "walkthrough.db")).replaceAll("9100", String(port)),
      ],
      {
        cwd: root,
        // Its own process group, so a failed run leaves no server behind.
        detached: true,
        env: Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "AUTHZ_DB")),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    try {
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(-1), 60_000);
        child.once("exit", (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      assert.equal(code, 0, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    } finally {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone: everything stopped
      }
    }
    // One-line JSON answers (curl's, the server's log lines); the client's pretty-printed JSON spans several lines.
    const jsonLines = stdout
      .split("\n")
      .filter((line) => line.startsWith("{") && line.endsWith("}"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const token = jsonLines.find((line) => "access_token" in line);
    assert.deepEqual(
      { ...token, access_token: "" },
      { access_token: "", token_type: "Bearer", expires_in: 600, scope: "photos" },
    );
    const introspections = jsonLines.filter((line) => "active" in line);
    assert.deepEqual(
      introspections.map((line) => [line["active"], line["iss"], line["aud"], line["scope"]]),
      [
        [true, `http://localhost:${port}`, "http://localhost:8080/", "photos"],
        [false, undefined, undefined, undefined],
      ],
    );
    assert.ok(
      jsonLines.some((line) => Array.isArray(line["keys"])),
      "the JWKS was printed",
    );
    // `kill` only sends SIGTERM: the server closes its connections and exits on its own, within a few seconds.
    assert.ok(await refusedWithin(port, 5_000), "the server still answers 5 s after `kill $SERVER`");
  });
});
