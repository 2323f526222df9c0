// `npm run bench`: runs every section, prints one Markdown table per measurement and the target
// checks (MET / MISSED / NOT MEASURED), and writes the same figures to bench/results/latest.json.
// `--quick` shortens every load for development; `--only verification,plugin-server,sidecar,cost-model`
// runs a subset; `--out FILE` moves the JSON; `--markdown FILE` also writes the printed report.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { describeMachine, oneLine, renderReport, type Report, type SectionResult } from "./lib/report.js";
import type { BenchOptions } from "./lib/options.js";
import { benchVerification } from "./sections/verification.js";
import { benchSidecar } from "./sections/sidecar.js";
import { benchPluginServer } from "./sections/plugin-server.js";
import { benchCostModel } from "./sections/cost-model.js";

const SECTIONS: Record<string, (options: BenchOptions) => Promise<SectionResult>> = {
  verification: benchVerification,
  "plugin-server": benchPluginServer,
  sidecar: benchSidecar,
  "cost-model": benchCostModel,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      out: { type: "string" },
      markdown: { type: "string" },
    },
  });
  const selected = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(SECTIONS);
  for (const name of selected) {
    if (!Object.hasOwn(SECTIONS, name))
      throw new Error(`unknown section "${name}"; known: ${Object.keys(SECTIONS).join(", ")}`);
  }
  if (!(globalThis as { gc?: unknown }).gc) {
    process.stderr.write(
      "note: run with node --expose-gc (npm run bench does) so collections stay out of timed batches\n",
    );
  }
  const options: BenchOptions = {
    quick: values.quick,
    log: (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`),
  };
  const started = new Date();
  const machine = describeMachine();
  const sections: SectionResult[] = [];
  for (const name of selected) {
    const run = SECTIONS[name];
    try {
      sections.push(await run(options));
    } catch (error) {
      // One broken section (a piece not built, a server that cannot start) must not lose the others.
      options.log(`section ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      sections.push({
        id: name,
        title: name,
        tables: [],
        figures: {},
        targets: [{ target: `section ${name}`, measured: `not measured: ${oneLine(error)}`, met: null }],
        skipped: [`the whole section: ${oneLine(error)}`],
      });
    }
  }
  const finished = new Date();
  const report: Report = {
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    mode: options.quick ? "quick" : "full",
    machine,
    sections,
    targets: sections.flatMap((s) => s.targets),
  };
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = values.out ?? path.join(here, "results", "latest.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
  const rendered = renderReport(report);
  if (values.markdown) fs.writeFileSync(values.markdown, rendered);
  process.stdout.write(rendered);
  process.stderr.write(`figures written to ${path.relative(process.cwd(), out)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
