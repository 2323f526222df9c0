// Preloaded into a plugin server under test (node --expose-gc --require this-file): SIGUSR2
// runs a full garbage collection, so the benchmark can read resident memory after a forced GC
// in any server, including kong-pdk's stock one, without changing the server itself.
"use strict";
if (typeof global.gc === "function") {
  process.on("SIGUSR2", () => {
    global.gc();
    global.gc();
  });
}
