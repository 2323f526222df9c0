import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createCanonApp, type CanonAppOptions } from "./app.js";

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

export interface CanonOptions extends Omit<CanonAppOptions, "publicUrl" | "clientId" | "clientSecret"> {
  clientId?: string;
  clientSecret?: string;
  /**
   * Registers Canon once its callback URL is known (tests on a free port): called after listening
   * with the redirect URI, instead of fixed clientId/clientSecret.
   */
  register?: (redirectUri: string) => Promise<ClientCredentials>;
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
  let credentials: ClientCredentials;
  try {
    if (options.register !== undefined) {
      credentials = await options.register(new URL("/callback", publicUrl).href);
    } else if (options.clientId !== undefined && options.clientSecret !== undefined) {
      credentials = { clientId: options.clientId, clientSecret: options.clientSecret };
    } else {
      throw new TypeError("startCanon: give clientId and clientSecret, or register");
    }
  } catch (err) {
    server.close();
    throw err;
  }
  const handle = createCanonApp({ ...options, ...credentials, publicUrl }).callback();
  // Koa answers its own errors (ctx.onerror): nothing is left for a rejected promise to report.
  server.on("request", (request, response) => void handle(request, response));
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
