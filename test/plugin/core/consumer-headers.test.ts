// Kong's consumer headers, recognised in every spelling a client can send through nginx (case,
// `_` for `-`) once folded, and the cheap first test that keeps the header scan flat.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isConsumerHeader, mayBeConsumerFamily } from "../../../plugin/src/core/consumer-headers.ts";
import { foldHeaderName } from "../../../plugin/src/guard/index.ts";

describe("Kong's consumer headers", () => {
  it("are the X-Consumer- family and X-Credential-Identifier / X-Anonymous-Consumer, in every spelling", () => {
    const names = [
      "X-Consumer-ID",
      "X-Consumer-Custom-ID",
      "X-Consumer-Username",
      "X-Consumer-Groups",
      "x_consumer_id",
      "X_CONSUMER-Anything",
      "X-Credential-Identifier",
      "x_credential_identifier",
      "X-Anonymous-Consumer",
      "X_Anonymous_Consumer",
      "x-consumer-",
    ];
    assert.deepEqual(
      names.filter((n) => !isConsumerHeader(foldHeaderName(n))),
      [],
    );
  });

  it("are not near misses", () => {
    const names = [
      "X-Consumer",
      "X-Consumers-ID",
      "Consumer-ID",
      "X-Credential-Identifiers",
      "X-Anonymous",
      "x-consumerid",
      "X-Authenticated-Userid",
      "Authorization",
    ];
    assert.deepEqual(
      names.filter((n) => isConsumerHeader(foldHeaderName(n))),
      [],
    );
  });

  it("the first test lets every X-Consumer- spelling through and rules out other names by length or first letter", () => {
    assert.deepEqual(["x-consumer-", "X_Consumer_ID", "x-consumer-groups"].map(mayBeConsumerFamily), [
      true,
      true,
      true,
    ]);
    assert.deepEqual(
      ["host", "authorization", "user-agent", "x-consumer", "accept-language-and-more"].map(mayBeConsumerFamily),
      [false, false, false, false, false],
    );
  });
});
