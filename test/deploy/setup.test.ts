// `npm run setup` (scripts/setup.sh) installs the Debian packages the tests need; `npm test`
// (scripts/test.sh) installs nothing: it names what is missing and how to get it, before building.
import assert from "node:assert/strict";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { run, ROOT, withTempDir } from "./helpers.ts";

/**
 * Every command the check runs or looks for: the tools themselves, dpkg-query (which answers whether
 * lua-messagepack is installed), and bash and dirname, with which scripts/test.sh finds and runs the check.
 */
const COMMANDS = ["chromium", "deck", "docker-compose", "luajit", "protoc", "dpkg-query", "bash", "dirname"];

/**
 * Runs `script` with a PATH holding only the commands the check needs, less `without`: node and
 * npm are left out too, so a script that went on past a failed check could not build or test.
 */
function runWithPathWithout(script: string, args: readonly string[], without: readonly string[]) {
  return withTempDir((bin) => {
    for (const tool of COMMANDS) {
      if (without.includes(tool)) continue;
      const found = run("bash", ["-c", `command -v ${tool}`]);
      assert.equal(found.status, 0, `${tool} must be installed to run this test (npm run setup)`);
      symlinkSync(found.stdout.trim(), join(bin, tool));
    }
    return run("/bin/bash", [join(ROOT, script), ...args], { env: { PATH: bin } });
  });
}

describe("scripts/setup.sh --check (the first step of npm test)", () => {
  it("says nothing and exits 0 when every tool is present", () => {
    const result = runWithPathWithout("scripts/setup.sh", ["--check"], []);
    assert.deepEqual(result, { status: 0, stdout: "", stderr: "" });
  });

  it("names each missing tool with the Debian package that brings it, and the command that installs them", () => {
    const result = runWithPathWithout("scripts/setup.sh", ["--check"], ["deck", "protoc"]);
    assert.deepEqual(result, {
      status: 1,
      stdout: "",
      stderr:
        "the tests need Debian packages that are not installed: deck protobuf-compiler\n" +
        "  deck: command not found (package deck)\n" +
        "  protoc: command not found (package protobuf-compiler)\n" +
        "run: npm run setup\n",
    });
  });
});

describe("npm test (scripts/test.sh)", () => {
  it("stops before building, with the check's message, when a tool is missing", () => {
    const result = runWithPathWithout("scripts/test.sh", [], ["luajit"]);
    assert.deepEqual(result, {
      status: 1,
      stdout: "",
      stderr:
        "the tests need Debian packages that are not installed: luajit\n" +
        "  luajit: command not found (package luajit)\n" +
        "run: npm run setup\n",
    });
  });
});

describe("the test command", () => {
  it("is the one README.md gives, and .ci/run runs exactly it", () => {
    const command = "npm ci && npm run setup && npm test";
    const readme = readFileSync(join(ROOT, "README.md"), "utf8").split("\n");
    assert.ok(readme.includes(command), `README.md gives ${command}`);
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8").trimEnd().split("\n");
    assert.equal(ci.at(-1), command);
  });
});
