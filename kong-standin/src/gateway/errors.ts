/** A kong.yml the stand-in refuses: something Kong would reject, or a feature it does not implement. */
export class KongConfigError extends Error {
  override readonly name = "KongConfigError";
}
