/** Milliseconds from some fixed origin. Injected wherever time matters so tests never sleep. */
export type Clock = () => number;

/** Monotonic: for durations, TTLs and cool-downs (never jumps when the wall clock is set). */
export const monotonicClock: Clock = () => performance.now();

/** Wall-clock epoch milliseconds: for timestamps people read. */
export const wallClock: Clock = () => Date.now();
