// The benchmark's result model: every section yields printable tables (Markdown, so a run can
// be pasted into bench/RESULTS.md unchanged), raw figures for the JSON file, and target checks
// that say plainly when one of the targets bench/README.md lists is missed.
import os from "node:os";

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  notes: string[];
}

export interface TargetCheck {
  /** The target, in words: what must hold and against what it is measured. */
  target: string;
  /** What this run measured, in words and figures. */
  measured: string;
  /** null when the target could not be measured in this run (the reason is in `measured`). */
  met: boolean | null;
}

export interface SectionResult {
  id: string;
  title: string;
  tables: Table[];
  figures: Record<string, unknown>;
  targets: TargetCheck[];
  /** Parts that could not run, each with its reason. */
  skipped: string[];
}

export interface Machine {
  cpuModel: string;
  cpus: number;
  totalMemoryMB: number;
  os: string;
  node: string;
  loadAverageAtStart: number[];
}

export interface Report {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  mode: "full" | "quick";
  machine: Machine;
  sections: SectionResult[];
  targets: TargetCheck[];
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpus: cpus.length,
    totalMemoryMB: Math.round(os.totalmem() / 2 ** 20),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function renderTable(table: Table): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? "").length)));
  // Columns of figures are right-aligned, columns of words left-aligned.
  const numeric = table.columns.map((_, i) => table.rows.every((r) => /^[-–0-9.,×%+ ]*$|^failed$/.test(r[i] ?? "")));
  const line = (cells: string[]): string =>
    "| " + cells.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(" | ") + " |";
  const out = [`**${table.title}**`, "", line(table.columns)];
  out.push("|" + widths.map((w, i) => (numeric[i] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|");
  for (const row of table.rows) out.push(line(row));
  for (const note of table.notes) out.push("", note);
  return out.join("\n");
}

export function renderTargets(targets: TargetCheck[]): string {
  return targets
    .map((t) => `- ${t.met === null ? "NOT MEASURED" : t.met ? "MET" : "MISSED"}: ${t.target} — ${t.measured}`)
    .join("\n");
}

export function renderReport(report: Report): string {
  const m = report.machine;
  const out = [
    `Benchmark run ${report.startedAt} (${report.mode}, ${report.durationSeconds.toFixed(0)} s)`,
    "",
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.totalMemoryMB} MB, ${m.os}, Node.js ${m.node}, load average at start ${m.loadAverageAtStart.join(" / ")}`,
    "",
  ];
  for (const section of report.sections) {
    out.push(`### ${section.title}`, "");
    for (const table of section.tables) out.push(renderTable(table), "");
    for (const s of section.skipped) out.push(`- NOT RUN: ${s}`);
    if (section.skipped.length > 0) out.push("");
  }
  out.push("### Targets", "", renderTargets(report.targets), "", "");
  return out.join("\n");
}

/** Formats a figure with a sensible number of significant digits. */
export function fmt(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 10 ** digits - 0.5) return Math.round(value).toLocaleString("en-US");
  if (abs < 0.01) return value.toFixed(2);
  return value.toPrecision(digits);
}

/** One line of at most `max` characters from an error, for tables and target lines. */
export function oneLine(error: unknown, max = 240): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}

export function ratio(value: number | null | undefined, baseline: number | null | undefined): string {
  if (value == null || baseline == null || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0)
    return "–";
  return `${(value / baseline).toFixed(2)}×`;
}
