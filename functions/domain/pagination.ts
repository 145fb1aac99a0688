import { Problem } from '../shared/problem';
import { UUID } from '../shared/uuid';

/** Keyset position: the last item's creation time (microseconds) and id. Opaque to clients. */
interface Position {
  createdAt: string;
  id: string;
}

// Exactly what api_timestamp() produces.
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * A time that exists (no February 30th, hour 25 or year 0000): checked here, so a forged cursor is INVALID_CURSOR
 * rather than a value the database refuses. Date rolls an impossible time over, so one that does not come back
 * as it went in never existed.
 */
function isRealTime(timestamp: string): boolean {
  const seconds = timestamp.slice(0, 19);
  const parsed = new Date(`${seconds}Z`);
  return !seconds.startsWith('0000') && !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(seconds);
}

export function encodeCursor(item: Position): string {
  return Buffer.from(JSON.stringify([item.createdAt, item.id])).toString('base64url');
}

/** `isId`: what the listing's ids look like (UUIDs, but user ids for the member list). */
export function decodeCursor(cursor: string | undefined, isId: (id: string) => boolean = (id) => UUID.test(id)): Position | null {
  if (cursor === undefined) return null;
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && typeof id === 'string' && TIMESTAMP.test(createdAt) && isRealTime(createdAt) && isId(id)) {
      return { createdAt, id };
    }
  } catch {
    // fall through to the 400 below
  }
  throw new Problem(400, 'INVALID_CURSOR', 'The cursor is not one this API returned');
}

/** Fetch `limit + 1` rows; the extra one only tells whether there is a next page. */
export function page<T extends Position>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
