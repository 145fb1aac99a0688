import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, page } from '../../functions/domain/pagination';
import { versionFromIfMatch } from '../../functions/domain/tasks';
import { Problem } from '../../functions/shared/problem';

const item = (n: number) => ({ id: `00000000-0000-4000-8000-00000000000${n}`, createdAt: `2026-11-24T10:00:0${n}.123456Z` });

describe('cursors', () => {
  it('round-trip the position with microseconds intact', () => {
    expect(decodeCursor(encodeCursor(item(1)))).toEqual(item(1));
  });

  it.each(['', '!!!', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('["yesterday","x"]').toString('base64url')])(
    'refuse %j with INVALID_CURSOR',
    (cursor) => {
      expect(() => decodeCursor(cursor)).toThrow(expect.objectContaining({ status: 400, code: 'INVALID_CURSOR' }) as Problem);
    },
  );

  it.each(['2024-02-30T10:00:00.000000Z', '2023-02-29T10:00:00.000000Z', '2024-02-29T25:61:00.000000Z', '2024-04-31T00:00:00.000000Z', '0000-01-01T00:00:00.000000Z', '2024-01-01T23:59:60.000000Z'])(
    'refuse a well-formed cursor holding the impossible time %s with INVALID_CURSOR',
    (createdAt) => {
      const cursor = encodeCursor({ createdAt, id: '00000000-0000-4000-8000-000000000001' });
      expect(() => decodeCursor(cursor)).toThrow(expect.objectContaining({ status: 400, code: 'INVALID_CURSOR' }) as Problem);
    },
  );

  it('take any real time, leap days included', () => {
    for (const createdAt of ['2024-02-29T23:59:59.999999Z', '0001-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z']) {
      expect(decodeCursor(encodeCursor({ createdAt, id: '00000000-0000-4000-8000-000000000001' }))).toMatchObject({ createdAt });
    }
  });

  it('give a next cursor only when there is another row', () => {
    expect(page([item(1), item(2)], 2)).toEqual({ items: [item(1), item(2)], nextCursor: null });
    const more = page([item(1), item(2), item(3)], 2);
    expect(more.items).toEqual([item(1), item(2)]);
    expect(decodeCursor(more.nextCursor!)).toEqual(item(2));
  });
});

describe('If-Match', () => {
  it.each([['"3"', 3], ['W/"12"', 12], [' "7" ', 7], ['*', null]])('reads %s', (header, version) => {
    expect(versionFromIfMatch(header)).toBe(version);
  });

  it.each(['3', '"v3"', '"1", "2"', '"99999999999999999999999"', '"9007199254740992"'])('refuses %s', (header) => {
    expect(() => versionFromIfMatch(header)).toThrow(expect.objectContaining({ code: 'INVALID_IF_MATCH' }) as Problem);
  });
});
