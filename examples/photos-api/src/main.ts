/** `node examples/photos-api/dist/main.js`: PORT (8080) and HOST (127.0.0.1; 0.0.0.0 in Docker). */
import { startPhotosApi } from "./server.js";

const port = Number(process.env["PORT"] ?? 8080);
const host = process.env["HOST"] ?? "127.0.0.1";
const api = await startPhotosApi({ port, host });
console.log(`Flickr photos API listening on ${api.url}`);
const stop = (): void => {
  void api.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
