import type { Context } from "koa";
import getRawBody from "raw-body";
import { OAuthError } from "./errors.js";

/** A parsed `application/x-www-form-urlencoded` body in which every parameter occurs at most once, except `multi`. */
export interface FormParams {
  get(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
}

export interface FormOptions {
  /** Largest body in bytes; more is answered 413. */
  limit: number;
  /** Parameters that may repeat, e.g. RFC 8707 `resource`. */
  multi?: readonly string[];
}

/** Why a form body could not be read. */
export type FormBodyFault = "media-type" | "charset" | "too-large" | "unreadable";

/** A body that is not a readable form; the token endpoints answer it as invalid_request, the pages as a page. */
export class FormBodyError extends Error {
  constructor(
    readonly fault: FormBodyFault,
    readonly limit: number,
  ) {
    super(`form body: ${fault}`);
    this.name = "FormBodyError";
  }
}

/**
 * Reads an `application/x-www-form-urlencoded` body (what an HTML form posts, and what RFC 6749 §3.2, RFC 7662 §2.1
 * and RFC 7009 §2.1 require) in UTF-8. The body is size-limited before it is parsed; decoding is URLSearchParams'
 * (WHATWG URL standard). Every value is kept, repeated or empty: the caller applies its protocol's rules.
 */
export async function readFormBody(ctx: Context, limit: number): Promise<URLSearchParams> {
  // Koa's `length` is typed as a number but is undefined without a Content-Length header: read that header first.
  const length = ctx.get("Content-Length") === "" ? undefined : ctx.request.length;
  const hasBody = length !== undefined ? length > 0 : ctx.get("Transfer-Encoding") !== "";
  if (hasBody && ctx.request.is("application/x-www-form-urlencoded") === false) {
    throw new FormBodyError("media-type", limit);
  }
  const charset = ctx.request.charset;
  if (charset !== "" && charset.toLowerCase() !== "utf-8") throw new FormBodyError("charset", limit);
  try {
    return new URLSearchParams(await getRawBody(ctx.req, { length, limit, encoding: "utf8" }));
  } catch (error: unknown) {
    const type = typeof error === "object" && error !== null && "type" in error ? String(error.type) : "";
    throw new FormBodyError(type === "entity.too.large" ? "too-large" : "unreadable", limit);
  }
}

/** The invalid_request description of each fault (RFC 6749 §5.2). */
const faultDescriptions: Record<FormBodyFault, (limit: number) => string> = {
  "media-type": () => "the request body must be application/x-www-form-urlencoded",
  charset: () => "the request body must be UTF-8",
  "too-large": (limit) => `the request body exceeds ${limit} bytes`,
  unreadable: () => "the request body could not be read",
};

/**
 * Reads the body of a POST to the token, introspection or revocation endpoint (see readFormBody); anything but a
 * readable form is invalid_request (413 when too large). RFC 6749 §3.1: a parameter sent twice is invalid_request;
 * a parameter without a value is treated as omitted.
 */
export async function readForm(ctx: Context, options: FormOptions): Promise<FormParams> {
  let body: URLSearchParams;
  try {
    body = await readFormBody(ctx, options.limit);
  } catch (error: unknown) {
    if (!(error instanceof FormBodyError)) throw error;
    const description = faultDescriptions[error.fault](error.limit);
    throw new OAuthError("invalid_request", description, error.fault === "too-large" ? 413 : undefined);
  }
  const values = new Map<string, string[]>();
  for (const [name, value] of body) {
    if (value === "") continue; // RFC 6749 §3.1: sent without a value = omitted
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const multi = new Set(options.multi ?? []);
  for (const [name, list] of values) {
    if (list.length > 1 && !multi.has(name)) {
      throw new OAuthError("invalid_request", `parameter ${name} is included more than once`);
    }
  }
  return new ParsedForm(values);
}

/** FormParams over the parsed values; a class, so a request allocates no closures for it. */
class ParsedForm implements FormParams {
  readonly #values: ReadonlyMap<string, string[]>;

  constructor(values: ReadonlyMap<string, string[]>) {
    this.#values = values;
  }

  get(name: string): string | undefined {
    return this.#values.get(name)?.[0];
  }

  getAll(name: string): string[] {
    return this.#values.get(name) ?? [];
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }
}
