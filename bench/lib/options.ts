/** Options shared by every section. */
export interface BenchOptions {
  /** Short runs for development: fewer rounds, shorter loads. The figures are noisier. */
  quick: boolean;
  /** Progress lines go to stderr, so stdout carries only the table. */
  log: (message: string) => void;
}
