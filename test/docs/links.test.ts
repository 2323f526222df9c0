// Every relative link and every #anchor in the repository's READMEs and design notes leads somewhere: the file or
// folder exists, and the anchor is a heading of the page it names, spelled as GitHub spells heading anchors. The
// documentation also stands alone: it names no document outside the repository.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Folders that hold no documentation of ours: dependencies, build output, runtime data. */
const SKIPPED_FOLDERS = new Set(["node_modules", "dist", "data", "test-results", ".git", "results"]);

/** The pages checked: every README.md in the repository, and every Markdown file of docs/ and bench/. */
function documentationFiles(folder = root): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name)) files.push(...documentationFiles(path));
    } else if (
      entry.name === "README.md" ||
      (entry.name.endsWith(".md") && /^(docs|bench)\//.test(relativePath(path)))
    ) {
      files.push(path);
    }
  }
  return files.sort();
}

const relativePath = (path: string): string => relative(root, path).split("\\").join("/");

/** The lines of a Markdown page outside fenced code blocks, with their 1-based line numbers. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fence: string | null = null;
  markdown.split("\n").forEach((text, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(text)?.[1];
    if (marker !== undefined && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      return;
    }
    if (fence === null) lines.push({ text, line: index + 1 });
  });
  return lines;
}

/** A heading's anchor as GitHub computes it: the rendered text lower-cased, punctuation removed, spaces to hyphens. */
export function headingSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link renders as its text
    .replace(/`([^`]*)`/g, "$1") // a code span as its content
    .replace(/\*/g, ""); // emphasis markers
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every heading anchor of a page; a repeated heading gets -1, -2, … as on GitHub. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const slug = headingSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${String(count)}`);
  }
  return anchors;
}

/** Every link target of a page outside code (inline links, images and reference definitions), with its line. */
export function linkTargets(markdown: string): { target: string; line: number }[] {
  const targets: { target: string; line: number }[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      targets.push({ target: match[1], line });
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose)?.[1];
    if (definition !== undefined) targets.push({ target: definition, line });
  }
  return targets;
}

/** What is wrong with one relative link of the page at `from`, or null when it leads somewhere. */
export function brokenLink(from: string, target: string, readPage: (path: string) => string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto:: not a file of ours
  const hash = target.indexOf("#");
  const pathPart = hash < 0 ? target : target.slice(0, hash);
  const anchor = hash < 0 ? undefined : target.slice(hash + 1);
  const path = pathPart === "" ? from : resolve(dirname(from), decodeURIComponent(pathPart));
  if (!existsSync(path)) return `${target}: no such file or folder`;
  if (anchor === undefined) return null;
  if (statSync(path).isDirectory() || !path.endsWith(".md")) return `${target}: an anchor into something not a page`;
  return headingAnchors(readPage(path)).has(decodeURIComponent(anchor))
    ? null
    : `${target}: ${relativePath(path)} has no heading with that anchor`;
}

/** References that only make sense beside a checklist or a document the repository does not hold. */
const OUTSIDE_REFERENCES = /\b(?:issue|requirement|item) \d|shared\/docs|oauth-requirements|style\.md/i;

describe("heading anchors, as GitHub spells them", () => {
  it("lower-cases, drops punctuation and turns spaces into hyphens", () => {
    assert.equal(headingSlug("Answers (RFC 6750 §3)"), "answers-rfc-6750-3");
    assert.equal(
      headingSlug("Checked against Kong's own source (Kong 3.9.3)"),
      "checked-against-kongs-own-source-kong-393",
    );
    assert.equal(headingSlug("The Kong wire harness (`src/wire/`)"), "the-kong-wire-harness-srcwire");
    assert.equal(headingSlug("ProtoBuf:1 (default)"), "protobuf1-default");
    assert.equal(headingSlug("Create a client and get a token (curl)"), "create-a-client-and-get-a-token-curl");
    assert.equal(headingSlug("A [linked](other.md) *word* and snake_case"), "a-linked-word-and-snake_case");
  });

  it("numbers repeated headings -1, -2, and ignores headings inside code blocks", () => {
    const page = "# Tests\n\n## Tests\n\n```sh\n# Tests\n```\n\n### Tests\n";
    assert.deepEqual([...headingAnchors(page)], ["tests", "tests-1", "tests-2"]);
  });
});

describe("link targets", () => {
  it("are read from inline links, images and reference definitions, not from code", () => {
    const page = [
      'See [the plugin](plugin/README.md#install) and ![diagram](docs/a.png "title").',
      "`[not](a-link.md)` and [a site](https://example.com)",
      "```",
      "[in code](nowhere.md)",
      "```",
      "[ref]: docs/README.md",
    ].join("\n");
    assert.deepEqual(linkTargets(page), [
      { target: "plugin/README.md#install", line: 1 },
      { target: "docs/a.png", line: 1 },
      { target: "https://example.com", line: 2 },
      { target: "docs/README.md", line: 6 },
    ]);
  });

  it("are reported when the file, or the heading an anchor names, does not exist", () => {
    const readme = join(root, "README.md");
    const read = (path: string): string => readFileSync(path, "utf8");
    assert.equal(brokenLink(readme, "docs/no-such-note.md", read), "docs/no-such-note.md: no such file or folder");
    assert.equal(
      brokenLink(readme, "plugin/README.md#no-such-heading", read),
      "plugin/README.md#no-such-heading: plugin/README.md has no heading with that anchor",
    );
    assert.equal(
      brokenLink(readme, "#no-such-heading", read),
      "#no-such-heading: README.md has no heading with that anchor",
    );
    assert.equal(brokenLink(readme, "plugin/README.md#install", read), null);
    assert.equal(brokenLink(readme, "examples/", read), null);
    assert.equal(brokenLink(readme, "https://www.rfc-editor.org/rfc/rfc6749", read), null);
  });
});

describe("the repository's documentation", () => {
  const files = documentationFiles();
  const pages = new Map<string, string>();
  const readPage = (path: string): string => {
    const cached = pages.get(path);
    if (cached !== undefined) return cached;
    const text = readFileSync(path, "utf8");
    pages.set(path, text);
    return text;
  };

  it("includes the top-level README, every package README and the design notes", () => {
    const names = files.map(relativePath);
    for (const expected of [
      "README.md",
      "authz-server/README.md",
      "plugin/README.md",
      "kong-standin/README.md",
      "bench/README.md",
      "bench/RESULTS.md",
      "examples/README.md",
      "docs/README.md",
    ]) {
      assert.ok(names.includes(expected), `${expected} is missing`);
    }
  });

  for (const file of files) {
    const name = relativePath(file);
    it(`${name}: every relative link and anchor leads somewhere`, () => {
      const broken = linkTargets(readPage(file))
        .map(({ target, line }) => {
          const problem = brokenLink(file, target, readPage);
          return problem === null ? null : `${name}:${String(line)}: ${problem}`;
        })
        .filter((problem) => problem !== null);
      assert.deepEqual(broken, []);
    });

    it(`${name}: names no checklist number and no document outside the repository`, () => {
      const found = readPage(file)
        .split("\n")
        .map((text, index) => (OUTSIDE_REFERENCES.test(text) ? `${name}:${String(index + 1)}: ${text.trim()}` : null))
        .filter((line) => line !== null);
      assert.deepEqual(found, []);
    });
  }
});
