// The plugin's counters for the metrics: one slot per outcome and reason in a preallocated array,
// every reason of the core's verdicts among the fixed label values, one set per process.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  OUTCOMES,
  pluginStats,
  VERDICT_REASONS,
  VerdictCounts,
  type Outcome,
  type VerdictReason,
} from "../../../plugin/src/core/stats.ts";

const visited = (counts: VerdictCounts): [Outcome, VerdictReason, number][] => {
  const seen: [Outcome, VerdictReason, number][] = [];
  counts.forEach((outcome, reason, count) => seen.push([outcome, reason, count]));
  return seen;
};

describe("VerdictCounts", () => {
  it("counts each outcome and reason in a slot of its own", () => {
    const counts = new VerdictCounts();
    for (const outcome of OUTCOMES) for (const reason of VERDICT_REASONS) counts.add(outcome, reason);
    counts.add("refused", "expired");
    for (const outcome of OUTCOMES)
      for (const reason of VERDICT_REASONS)
        assert.equal(counts.get(outcome, reason), outcome === "refused" && reason === "expired" ? 2 : 1);
  });

  it("visits only the pairs counted, outcomes and reasons in their fixed order", () => {
    const counts = new VerdictCounts();
    assert.deepEqual(visited(counts), []);
    counts.add("unavailable", "keys_unavailable");
    counts.add("allowed", "none");
    counts.add("allowed", "none");
    counts.add("anonymous", "no_token");
    assert.deepEqual(visited(counts), [
      ["allowed", "none", 2],
      ["unavailable", "keys_unavailable", 1],
      ["anonymous", "no_token", 1],
    ]);
  });

  it("takes its label values from fixed lists without repeats", () => {
    assert.deepEqual(OUTCOMES, ["allowed", "refused", "unavailable", "error", "anonymous"]);
    assert.equal(new Set(VERDICT_REASONS).size, VERDICT_REASONS.length);
    for (const reason of ["none", "no_token", "revoked", "no_consumer", "revocations_unavailable", "exception"])
      assert.ok(VERDICT_REASONS.includes(reason as VerdictReason), reason);
    for (const reason of VERDICT_REASONS) assert.match(reason, /^[a-z_]+$/);
  });
});

describe("pluginStats", () => {
  it("is the one set of the process, found under a global symbol by every copy of the package", () => {
    assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for("oauth2-jwt.plugin-stats")], pluginStats);
  });
});
