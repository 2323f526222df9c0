import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createCanonApp, type CanonAppOptions } from "./app.js";

export interface CanonOptions extends Omit<CanonAppOptions, "publicUrl"> {
  /** 0 picks a free port (tests); the public URL then follows the port unless given. */
  port?: number;
  host?: string;
  /** Default `http://localhost:<port>`: cookies are per host name, so always use `localhost`. */
  publicUrl?: string;
}

export interface RunningCanon {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startCanon(options: CanonOptions): Promise<RunningCanon> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const publicUrl = options.publicUrl ?? `http://localhost:${port}`;
  server.on("request", createCanonApp({ ...options, publicUrl }).callback());
  return {
    url: publicUrl,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
