// Kong's worker keeps a pool of cosockets to the plugin server and each RPC takes whichever is
// free, so the Steps of one event may travel on other connections than its HandleEvent. The
// pool hands out free connections round-robin, which makes consecutive RPCs of one request go
// over different connections whenever more than one is free — on purpose, so a server that
// tracks events per connection fails the tests.
import { RpcConnection, type ByteCounts } from "./connection.js";

export class ConnectionPool {
  private readonly connections: RpcConnection[];
  private readonly waiters: Array<(connection: RpcConnection) => void> = [];
  private readonly idle: boolean[];
  private cursor = 0;

  constructor(socketPath: string, size: number, timeoutMs: number, bytes: ByteCounts) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError("connections must be a positive integer");
    this.connections = Array.from({ length: size }, () => new RpcConnection(socketPath, timeoutMs, bytes));
    this.idle = this.connections.map(() => true);
    this.callsPerConnection = this.connections.map(() => 0);
  }

  /** RPCs sent on each connection, by position in the pool. */
  readonly callsPerConnection: number[];

  get size(): number {
    return this.connections.length;
  }

  /** Runs one RPC on a free connection, waiting for one if all are busy. */
  async call(method: string, args: unknown[]): Promise<unknown> {
    const connection = await this.acquire();
    const index = this.connections.indexOf(connection);
    this.callsPerConnection[index] = (this.callsPerConnection[index] ?? 0) + 1;
    try {
      return await connection.call(method, args);
    } finally {
      this.release(connection);
    }
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }

  private acquire(): Promise<RpcConnection> {
    for (let i = 0; i < this.connections.length; i++) {
      const index = (this.cursor + i) % this.connections.length;
      if (this.idle[index]) {
        this.idle[index] = false;
        this.cursor = index + 1;
        return Promise.resolve(this.connections[index]);
      }
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(connection: RpcConnection): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter(connection);
      return;
    }
    this.idle[this.connections.indexOf(connection)] = true;
  }
}
