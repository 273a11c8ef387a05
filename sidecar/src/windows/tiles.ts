/**
 * Tile arithmetic shared by every window operator (docs/feature-semantics.md §3).
 * Tiles of size g are aligned to the UTC epoch: tile_start(x) = floor(x / g) * g.
 */

/** Index of the tile holding epoch-millisecond `ms` (tile_start / g). */
export function tileIndex(ms: number, granularityMs: number): number {
  return Math.floor(ms / granularityMs);
}

/** Oldest tile index a read at `asOfMs` still counts: tile_start(t) - W, as an index. */
export function oldestTileIndex(asOfMs: number, windowMs: number, granularityMs: number): number {
  return tileIndex(asOfMs, granularityMs) - windowMs / granularityMs;
}

/** True when an event at `eventMs` is inside the window read at `asOfMs`. */
export function inWindow(eventMs: number, asOfMs: number, windowMs: number, granularityMs: number): boolean {
  return eventMs <= asOfMs && tileIndex(eventMs, granularityMs) >= oldestTileIndex(asOfMs, windowMs, granularityMs);
}
