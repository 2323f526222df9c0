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

/**
 * Reads the body of a POST to the token, introspection or revocation endpoint. RFC 6749 §3.2 (and RFC 7662 §2.1,
 * RFC 7009 §2.1): the format is application/x-www-form-urlencoded; JSON or anything else is invalid_request.
 * §3.1: a parameter sent twice is invalid_request; a parameter without a value is treated as omitted.
 */
export async function readForm(ctx: Context, options: FormOptions): Promise<FormParams> {
  const hasBody = ctx.request.length !== undefined ? ctx.request.length > 0 : ctx.get("Transfer-Encoding") !== "";
  if (hasBody && ctx.request.is("application/x-www-form-urlencoded") === false) {
    throw new OAuthError("invalid_request", "the request body must be application/x-www-form-urlencoded");
  }
  const charset = ctx.request.charset;
  if (charset !== "" && charset.toLowerCase() !== "utf-8") {
    throw new OAuthError("invalid_request", "the request body must be UTF-8");
  }
  let text: string;
  try {
    text = await getRawBody(ctx.req, { length: ctx.request.length, limit: options.limit, encoding: "utf8" });
  } catch (error: unknown) {
    const type = typeof error === "object" && error !== null && "type" in error ? String(error.type) : "";
    if (type === "entity.too.large") {
      throw new OAuthError("invalid_request", `the request body exceeds ${options.limit} bytes`, 413);
    }
    throw new OAuthError("invalid_request", "the request body could not be read");
  }
  const values = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(text)) {
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
