/** Durations in the registry: a number of milliseconds or a string like `90d`, `1h30m`, `500ms`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(?:\d+(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+)(ms|s|m|h|d|w)/g;

/** Milliseconds of a duration, or undefined when it is not a whole positive number of ms. */
export function parseDuration(d: Duration): number | undefined {
  if (typeof d === 'number') return Number.isSafeInteger(d) && d > 0 ? d : undefined;
  if (!DURATION.test(d)) return undefined;
  let ms = 0;
  for (const [, n, unit] of d.matchAll(PART)) ms += Number(n) * (UNIT_MS[unit!] ?? 0);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export const MIN_WINDOW_MS = 1_000;
export const MAX_WINDOW_MS = 90 * 86_400_000;
/** A window kept as fewer tiles loses precision at its edges; more costs state and CPU. */
export const TARGET_TILES = 20;
export const MAX_TILES = 4_096;

/**
 * Tile sizes tried from the largest down: epoch-aligned round sizes, so that
 * features with different windows often end up sharing one tile series.
 */
const TILE_LADDER_MS = [
  '3d', '2d', '1d', '12h', '6h', '4h', '3h', '2h', '1h', '30m', '15m', '10m', '5m', '2m', '1m',
  '30s', '15s', '10s', '5s', '2s', '1s', '500ms', '250ms', '100ms', '50ms', '10ms',
].map((d) => parseDuration(d)!);

/** The largest ladder tile that divides the window into at least TARGET_TILES tiles. */
export function defaultTileMs(windowMs: number): number | undefined {
  return TILE_LADDER_MS.find((t) => windowMs % t === 0 && windowMs / t >= TARGET_TILES);
}
