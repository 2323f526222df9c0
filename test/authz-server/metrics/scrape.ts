// Reading the metrics listener the way Prometheus does: GET /metrics, then the text exposition format's samples.
import assert from "node:assert/strict";
import { exposedSamples } from "../../helpers/exposition.ts";

export interface Scrape {
  /** The exposition text as served. */
  text: string;
  /** `name{label="value",…}` (labels as served) → value; undefined when the series is absent. */
  sample(series: string): number | undefined;
}

/** GET `<metricsUrl>/metrics`, asserting a 200 in Prometheus's text format. */
export async function scrape(metricsUrl: string | undefined): Promise<Scrape> {
  assert.ok(metricsUrl !== undefined, "the metrics listener is not running");
  const response = await fetch(`${metricsUrl}/metrics`);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = exposedSamples(text);
  return { text, sample: (series) => samples.get(series) };
}
