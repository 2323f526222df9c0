import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createPhotosApp, type PhotosAppOptions } from "./app.js";

export interface PhotosApiOptions extends PhotosAppOptions {
  /** 0 picks a free port (tests). */
  port?: number;
  host?: string;
}

export interface RunningPhotosApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startPhotosApi(options: PhotosApiOptions = {}): Promise<RunningPhotosApi> {
  const handle = createPhotosApp(options).callback();
  // Koa answers its own errors (ctx.onerror): nothing is left for a rejected promise to report.
  const server: Server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
