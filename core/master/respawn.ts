/**
 * Respawn policy (pure): a worker that dies soon after it was spawned counts as a fast death; each
 * fast death in a row doubles the wait before the next spawn, capped. A worker that lived long
 * enough resets the count.
 */

/** A worker that lived less than this (ms) died "fast". */
export const FAST_DEATH_MS = 2000;
/** First backoff step and cap, ms. */
export const BACKOFF_BASE_MS = 100;
export const BACKOFF_MAX_MS = 10_000;

/**
 * Delay before respawning, ms, given how many fast deaths in a row this worker slot has had
 * (including this one). 0 fast deaths → respawn at once.
 */
export function respawnDelayMs(fastDeathsInARow: number): number {
  if (fastDeathsInARow <= 0) return 0;
  return Math.min(BACKOFF_BASE_MS * 2 ** (fastDeathsInARow - 1), BACKOFF_MAX_MS);
}
