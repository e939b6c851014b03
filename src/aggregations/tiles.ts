/**
 * The tile a window at `now` ends with: the one holding the instant just
 * before now, so that at a tile edge the window is exactly [now - W, now).
 */
export function currentTile(now: number, tileMs: number): number {
  return Math.floor((now - 1) / tileMs);
}
