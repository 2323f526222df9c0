/** Reads a JSON array of strings stored by this module; the column is only ever written by `toJsonList`. */
export function fromJsonList(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === "string")) {
    throw new Error("corrupt list column in database");
  }
  return value;
}

export function toJsonList(items: readonly string[]): string {
  return JSON.stringify(items);
}
