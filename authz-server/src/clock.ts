/** The one source of time for the server: tests inject a fixed or steppable clock (time is frozen in tests, so they are deterministic). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
