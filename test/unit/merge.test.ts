import { describe, expect, it } from 'vitest';
import { MAX_MERGE_LINES, mergeChanges, mergeLabels, mergeText, type TaskFields } from '../../functions/domain/merge';

const base: TaskFields = {
  title: 'Ship v1',
  description: 'one\ntwo\nthree\nfour',
  status: 'todo',
  priority: 'none',
  assigneeId: null,
  dueDate: null,
  labels: ['a', 'b'],
};

describe('mergeChanges', () => {
  it('applies a change to a field nobody else touched', () => {
    const current = { ...base, priority: 'high' as const };
    expect(mergeChanges(base, current, { status: 'done' })).toEqual({ apply: { status: 'done' }, conflicts: [] });
  });

  it('reports a field both sides changed differently as a conflict', () => {
    const current = { ...base, status: 'in_review' as const };
    expect(mergeChanges(base, current, { status: 'done', priority: 'low' })).toEqual({ apply: { priority: 'low' }, conflicts: ['status'] });
  });

  it('has nothing to apply when the current value already is the caller\'s', () => {
    const current = { ...base, status: 'done' as const };
    expect(mergeChanges(base, current, { status: 'done' })).toEqual({ apply: {}, conflicts: [] });
  });

  it('merges non-overlapping description edits line by line, and refuses overlapping ones', () => {
    const current = { ...base, description: 'one\nTWO\nthree\nfour' };
    expect(mergeChanges(base, current, { description: 'one\ntwo\nTHREE\nfour' }).apply).toEqual({ description: 'one\nTWO\nTHREE\nfour' });
    expect(mergeChanges(base, current, { description: 'one\nzwei\nthree\nfour' })).toEqual({ apply: {}, conflicts: ['description'] });
  });

  it('conflicts on every differing change when the base version is unknown', () => {
    const current = { ...base, priority: 'high' as const };
    expect(mergeChanges(null, current, { status: 'done', priority: 'high' })).toEqual({ apply: {}, conflicts: ['status'] });
  });

  it('merges labels as sets', () => {
    const current = { ...base, labels: ['a', 'b', 'c'] };
    expect(mergeChanges(base, current, { labels: ['b', 'd'] }).apply).toEqual({ labels: ['b', 'c', 'd'] });
  });
});

describe('mergeText', () => {
  it('merges edits to adjacent lines when no line was added or removed', () => {
    expect(mergeText('1\n2\n3', 'ONE\n2\n3', '1\nTWO\n3')).toBe('ONE\nTWO\n3');
  });

  it('merges an insertion with an edit elsewhere (diff3)', () => {
    expect(mergeText('1\n2\n3\n4\n5', '1\n2\n3\n4\n5\n6', 'ONE\n2\n3\n4\n5')).toBe('ONE\n2\n3\n4\n5\n6');
  });

  it('refuses overlapping edits, single-line texts included', () => {
    expect(mergeText('title', 'Title A', 'Title B')).toBeNull();
    expect(mergeText('1\n2\n3', '1\nX\n3\n4', '1\nY\n3')).toBeNull();
  });

  it('does not line lines up by position when a side moved them (a deletion plus an insertion)', () => {
    expect(mergeText('A\nB\nB', 'A\nX\nB', 'B\nB\nC')).toBeNull();
  });

  it('leaves texts too long to merge on the request path to the client, as a conflict', () => {
    const long = Array.from({ length: MAX_MERGE_LINES + 1 }, () => '').join('\n');
    const started = performance.now();
    expect(mergeText(long, `x${long}`, `${long}y`)).toBeNull();
    expect(performance.now() - started).toBeLessThan(1_000); // refused without running the diff
  });

  it('accepts the same edit made on both sides', () => {
    expect(mergeText('1\n2', '1\nsame', '1\nsame')).toBe('1\nsame');
  });
});

describe('mergeLabels', () => {
  it('applies the caller\'s additions and removals to the current set', () => {
    expect(mergeLabels(['a', 'b'], ['a', 'b', 'x'], ['a', 'y'])).toEqual(['a', 'x', 'y']);
  });
});
