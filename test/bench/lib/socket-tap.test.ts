// The socket tap counts what Kong's side of the plugin-server socket writes and reads: exactly
// the bytes and connections to the watched paths, in order, whichever way the connection was
// opened, and nothing of other connections.
import assert from "node:assert/strict";
import fs from "node:fs";
import net, { createConnection } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { installSocketTap, joinDirection } from "../../../bench/lib/socket-tap.ts";

/** A Unix-socket server answering each chunk with "ok:" and the chunk, until the client ends. */
async function echoServer(socketPath: string): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on("data", (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from("ok:"), chunk])));
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

/** Writes one message and resolves once `expected` bytes came back. */
function exchange(socket: net.Socket, message: string, expected: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received >= expected) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(message);
  });
}

function connected(socket: net.Socket): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

describe("socket tap", () => {
  let directory: string;
  let watchedPath: string;
  let otherPath: string;
  const servers: net.Server[] = [];

  before(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "socket-tap-"));
    watchedPath = path.join(directory, "watched.sock");
    otherPath = path.join(directory, "other.sock");
    servers.push(await echoServer(watchedPath), await echoServer(otherPath));
  });

  after(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it("counts the connections and records every byte each way on a watched path, and nothing on others", async () => {
    const tap = installSocketTap();
    try {
      tap.watch(watchedPath);
      const watched = await connected(net.createConnection(watchedPath));
      const other = await connected(net.connect({ path: otherPath }));
      await exchange(other, "not counted", 14);
      const { chunks } = await tap.record(async () => {
        await exchange(watched, "hello", 8);
        await exchange(watched, "world!", 9);
      });
      await exchange(other, "nor this", 11);
      watched.destroy();
      other.destroy();
      assert.deepEqual(tap.totals(), { sent: 11, received: 17, connections: 1 });
      assert.equal(joinDirection(chunks, "sent").toString(), "helloworld!");
      assert.equal(joinDirection(chunks, "received").toString(), "ok:hellook:world!");
      assert.deepEqual(
        chunks.map((c) => c.direction),
        ["sent", "received", "sent", "received"],
      );
    } finally {
      tap.dispose();
    }
  });

  it("sees connections opened through a named import of createConnection", async () => {
    const tap = installSocketTap();
    try {
      tap.watch(watchedPath);
      const socket = await connected(createConnection(watchedPath));
      await exchange(socket, "abc", 6);
      socket.destroy();
      assert.deepEqual(tap.totals(), { sent: 3, received: 6, connections: 1 });
    } finally {
      tap.dispose();
    }
  });

  it("is installed once at a time, and dispose puts net back", () => {
    const original = net.createConnection;
    const tap = installSocketTap();
    try {
      assert.notEqual(net.createConnection, original);
      assert.throws(() => installSocketTap(), { message: "a socket tap is already installed" });
    } finally {
      tap.dispose();
    }
    assert.equal(net.createConnection, original);
    assert.equal(net.connect, original);
    assert.equal(createConnection, original);
  });
});
