// docs/grafana-dashboard.json, the dashboard operators import into Grafana: well-formed JSON in Grafana's dashboard
// model, every query valid PromQL (Prometheus's own grammar, @prometheus-io/lezer-promql) once Grafana has put its
// variables in, and every metric it names one that the two processes really expose — read from the metrics
// listeners of a running authorization server and a running plugin server — while every metric of ours is on it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { Closers } from "../helpers/closers.ts";
import { exposedMetrics } from "./metrics-sources.ts";

const DASHBOARD = fileURLToPath(new URL("../../docs/grafana-dashboard.json", import.meta.url));

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const graphs = dashboard.panels.filter((panel) => panel.type !== "row");
const queries = graphs.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));

/** What Grafana does before a query reaches Prometheus: its variables replaced by their values. */
function interpolate(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$authz_job", "authz-server")
    .replaceAll("$gateway_job", "oauth2-jwt");
}

/** The metric names a PromQL expression selects, or the text of its first syntax error. */
function selectedMetrics(expr: string): { names: string[]; error: string | null } {
  const tree = parser.parse(expr);
  const names: string[] = [];
  let error: string | null = null;
  tree.iterate({
    enter(node) {
      if (node.type.isError && error === null)
        error = `syntax error at ${node.from}: …${expr.slice(node.from, node.from + 20)}`;
      // A VectorSelector's Identifier child is its metric name (absent in `{__name__=…}` selectors).
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector")
        names.push(expr.slice(node.from, node.to));
    },
  });
  return { names, error };
}

/** A metric family's name as a query may use it: histograms are selected by their _bucket, _sum and _count series. */
function seriesNames(family: { name: string; type: string }): string[] {
  return family.type === "histogram"
    ? [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`]
    : [family.name];
}

describe("docs/grafana-dashboard.json", () => {
  it("is a Grafana dashboard: a uid, a title, unique panel ids, panels within the 24-column grid and not overlapping", () => {
    assert.match(dashboard.uid, /^[a-z0-9-]{1,40}$/);
    assert.ok(dashboard.title.length > 0);
    assert.ok(dashboard.schemaVersion >= 36);
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    const cells = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${panel.title} fits the grid`);
      for (let row = y; row < y + h; row++)
        for (let column = x; column < x + w; column++) {
          const other = cells.get(`${row},${column}`);
          assert.equal(other, undefined, `${panel.title} overlaps ${other ?? ""}`);
          cells.set(`${row},${column}`, panel.title);
        }
    }
  });

  it("every graph queries the chosen Prometheus, says what it shows, and names only variables the dashboard defines", () => {
    const variables = new Set(dashboard.templating.list.map((variable) => variable.name));
    assert.ok(graphs.length >= 10);
    for (const panel of graphs) {
      assert.deepEqual(panel.datasource, { type: "prometheus", uid: "${datasource}" }, panel.title);
      assert.ok((panel.description ?? "").length > 20, `${panel.title} has a description`);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`);
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: unique refIds`);
    }
    for (const { panel, target } of queries) {
      for (const [, name] of target.expr.matchAll(/\$(\w+)/g))
        assert.ok(name === "__rate_interval" || variables.has(name), `${panel.title}: $${name} is defined`);
    }
  });

  it("every query is valid PromQL", () => {
    for (const { panel, target } of queries) {
      const { names, error } = selectedMetrics(interpolate(target.expr));
      assert.equal(error, null, `${panel.title} ${target.refId}: ${target.expr}`);
      assert.ok(names.length > 0, `${panel.title} ${target.refId} selects a metric`);
    }
  });

  it("the PromQL check can fail: a broken query is a syntax error", () => {
    assert.notEqual(selectedMetrics("sum by (le (rate(authz_tokens_issued_total[1m]))").error, null);
  });

  describe("against the running processes", () => {
    const closers = new Closers();
    let exposed: Map<string, string>;
    before(async () => {
      exposed = await exposedMetrics(closers);
    });
    after(() => closers.closeAll());

    it("names only metrics the authorization server or the plugin server exposes", () => {
      const known = new Set([...exposed].flatMap(([name, type]) => seriesNames({ name, type })));
      for (const { panel, target } of queries)
        for (const name of selectedMetrics(interpolate(target.expr)).names)
          assert.ok(known.has(name), `${panel.title}: ${name} is exposed`);
    });

    it("shows every metric of ours (authz_*, oauth2_jwt_*)", () => {
      const used = new Set(queries.flatMap(({ target }) => selectedMetrics(interpolate(target.expr)).names));
      for (const [name, type] of exposed) {
        if (!/^(authz|oauth2_jwt)_/.test(name)) continue;
        assert.ok(
          seriesNames({ name, type }).some((series) => used.has(series)),
          `${name} is on the dashboard`,
        );
      }
    });
  });
});
