/**
 * One shared copy of each string value states keep (merchant ids and the
 * like), so many entities holding the same value hold one string, and the
 * engine's Map lookups by value match by identity. Bounded: past
 * INTERN_MAX distinct strings new values are kept as they come (only memory
 * differs, never a result).
 */
const INTERN_MAX = 1 << 16;
/** Longer strings are rarely shared. */
const INTERN_LENGTH = 64;
const table = new Map<string, string>();

export function intern(s: string): string {
  if (s.length > INTERN_LENGTH) return s;
  const held = table.get(s);
  if (held !== undefined) return held;
  if (table.size < INTERN_MAX) table.set(s, s);
  return s;
}
