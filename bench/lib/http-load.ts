// HTTP load through autocannon, from the bench process against a server in another process.
// Every load is bounded in time (duration), in count (maxOverallRequests) and, through
// autocannon's own timeout, per request.
import autocannon from "autocannon";

export interface HttpLoadResult {
  requestsPerSecond: number;
  total: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export interface HttpLoadOptions {
  /** More than one (several nodes of one server): the connections are spread over them in turn. */
  url: string | string[];
  connections: number;
  durationSeconds: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.RequestSpec[];
  /** Upper bound on requests (default 200,000); the rate is computed over the time actually taken. */
  maxRequests?: number;
}

export function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  return new Promise((resolve, reject) => {
    const cannonOptions: autocannon.Options = {
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      // A count bound beside the time bound: the run ends at whichever comes first.
      maxOverallRequests: options.maxRequests ?? 200_000,
      timeout: 10,
    };
    if (options.method !== undefined) cannonOptions.method = options.method;
    if (options.headers !== undefined) cannonOptions.headers = options.headers;
    if (options.body !== undefined) cannonOptions.body = options.body;
    if (options.requests !== undefined) cannonOptions.requests = options.requests;
    autocannon(cannonOptions, (error, result) => {
      if (error) {
        reject(error);
        return;
      }
      const statusCodes: Record<string, number> = {};
      for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
      resolve({
        // Completed requests over the run's measured duration, rather than the mean of per-second
        // samples, so a short run's partial last second does not skew the rate.
        requestsPerSecond: result.requests.total / result.duration,
        total: result.requests.total,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statusCodes,
      });
    });
  });
}

/** The load is only meaningful if every response was the success it was meant to be. */
export function describeFailures(result: HttpLoadResult): string | null {
  if (result.non2xx === 0 && result.errors === 0 && result.timeouts === 0) return null;
  return `${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors, ${result.timeouts} timeouts`;
}
