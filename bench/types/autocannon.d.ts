// Minimal typings for the parts of autocannon 9 the benchmark uses (the package ships none).
declare module "autocannon" {
  namespace autocannon {
    interface RequestContext {
      [key: string]: unknown;
    }
    interface RequestSpec {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string;
      setupRequest?: (request: RequestSpec, context: RequestContext) => RequestSpec | undefined;
      onResponse?: (
        status: number,
        body: string,
        context: RequestContext,
        headers: Partial<Record<string, string>>,
      ) => void;
    }
    interface Options {
      /** More than one: the connections are spread over them in turn. */
      url: string | string[];
      connections?: number;
      duration?: number;
      amount?: number;
      maxOverallRequests?: number;
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      requests?: RequestSpec[];
      pipelining?: number;
    }
    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      "2xx": number;
      latency: Histogram;
      requests: Histogram;
      statusCodeStats: Record<string, { count: number }>;
    }
    interface Instance {
      stop(): void;
    }
  }
  function autocannon(
    options: autocannon.Options,
    callback: (error: Error | null, result: autocannon.Result) => void,
  ): autocannon.Instance;
  export = autocannon;
}
