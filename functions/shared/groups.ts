/**
 * `items` in order, in groups of at most `count` items and `bytes` bytes by `sizeOf` (an item larger than `bytes`
 * goes alone): SQS's batches of messages, the feed's shards of connections.
 */
export function groupsOf<T>(items: Iterable<T>, { count, bytes, sizeOf }: { count: number; bytes: number; sizeOf: (item: T) => number }): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let used = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (group.length === count || (group.length > 0 && used + size > bytes)) {
      groups.push(group);
      group = [];
      used = 0;
    }
    group.push(item);
    used += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
