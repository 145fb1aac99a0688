import { diff3Merge, diffPatch } from 'node-diff3';
import type { TaskDto } from './schemas';

/** The task fields a PATCH may set. */
export type TaskFields = Pick<TaskDto, 'title' | 'description' | 'status' | 'priority' | 'assigneeId' | 'dueDate' | 'labels'>;
export type FieldName = keyof TaskFields;

export interface MergeOutcome {
  /** What to write on top of `current`: the caller's changes that survive the merge. */
  apply: Partial<TaskFields>;
  /** Fields the caller changed that somebody else changed differently since the caller's base. */
  conflicts: FieldName[];
}

const TEXT_FIELDS = new Set<FieldName>(['title', 'description']);

/**
 * Three-way merge of a stale update (review C6). For each field the caller changed:
 * - already equal to the current value: nothing to do;
 * - unchanged by others since the caller's base: the caller's value applies;
 * - text (title, description): a line-level three-way merge applies when the edits do not overlap;
 * - labels: merged as a set (the caller's additions and removals, applied to the current labels);
 * - otherwise: a conflict.
 * Without the base version (not recorded), every change that differs from the current value conflicts.
 */
export function mergeChanges(base: TaskFields | null, current: TaskFields, mine: Partial<TaskFields>): MergeOutcome {
  const apply: Partial<TaskFields> = {};
  const conflicts: FieldName[] = [];
  for (const field of Object.keys(mine) as FieldName[]) {
    const value = mine[field];
    if (value === undefined || same(value, current[field])) continue;
    if (base && same(base[field], current[field])) {
      set(apply, field, value);
      continue;
    }
    const merged = base ? mergeField(field, base, current, mine) : undefined;
    if (merged === undefined) conflicts.push(field);
    else if (!same(merged, current[field])) set(apply, field, merged);
  }
  return { apply, conflicts };
}

function mergeField(field: FieldName, base: TaskFields, current: TaskFields, mine: Partial<TaskFields>): TaskFields[FieldName] | undefined {
  if (TEXT_FIELDS.has(field)) return mergeText(base[field] as string, current[field] as string, mine[field] as string) ?? undefined;
  if (field === 'labels') return mergeLabels(base.labels, current.labels, mine.labels!);
  return undefined;
}

// The line diff is quadratic or worse in the line count (repeated lines are its worst case), and it
// runs on the request path: longer texts edited on both sides are left to the client as a conflict.
export const MAX_MERGE_LINES = 200;

/** Line-level three-way merge; null when both sides changed the same lines differently. */
export function mergeText(base: string, current: string, mine: string): string | null {
  const [o, a, b] = [base.split('\n'), current.split('\n'), mine.split('\n')];
  if (Math.max(o.length, a.length, b.length) > MAX_MERGE_LINES) return null;
  if (onlyReplacesLines(o, a) && onlyReplacesLines(o, b)) {
    // Neither side added or removed lines: line i of each is the same line, so edits to different
    // (even adjacent) lines merge, which diff3 would call a conflict.
    const lines: string[] = [];
    for (let i = 0; i < o.length; i += 1) {
      const line = a[i] === o[i] ? b[i]! : b[i] === o[i] || b[i] === a[i] ? a[i]! : null;
      if (line === null) return null;
      lines.push(line);
    }
    return lines.join('\n');
  }
  const regions = diff3Merge(a, o, b, { excludeFalseConflicts: true });
  if (regions.some((region) => region.conflict)) return null;
  return regions.flatMap((region) => region.ok ?? []).join('\n');
}

function onlyReplacesLines(base: string[], changed: string[]): boolean {
  return base.length === changed.length && diffPatch(base, changed).every((hunk) => hunk.buffer1.length === hunk.buffer2.length);
}

/** The caller's additions and removals since its base, applied to the current labels. */
export function mergeLabels(base: string[], current: string[], mine: string[]): string[] {
  return withLabelOps(current, { add: mine.filter((label) => !base.includes(label)), remove: base.filter((label) => !mine.includes(label)) });
}

/** Labels with some added (at the end, once) and some removed: `addLabels`/`removeLabels`, as the SQL does. */
export function withLabelOps(labels: string[], ops: { add: string[]; remove: string[] }): string[] {
  return [...new Set([...labels, ...ops.add])].filter((label) => !ops.remove.includes(label));
}

export function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function set<K extends FieldName>(target: Partial<TaskFields>, field: K, value: TaskFields[K]): void {
  target[field] = value;
}
