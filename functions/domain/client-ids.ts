import type { Caller } from '../shared/caller';
import { read } from '../shared/db';
import { Problem } from '../shared/problem';

const RESOURCES = {
  projects: { json: 'project_json', parent: null },
  tasks: { json: 'task_json', parent: 'project_id' },
  comments: { json: 'comment_json', parent: 'task_id' },
} as const;

/**
 * After a create with a client-supplied id inserted nothing: the caller's resource with that id, made
 * under the same parent (a retried create returns what the first one made), or 409 ID_CONFLICT when
 * the id is taken by something else — another organization's resource, or one under another parent.
 * Null when no row has the id (the create failed for another reason, such as a missing parent).
 */
export async function existingCreation<T>(
  table: keyof typeof RESOURCES,
  caller: Caller,
  id: string | undefined,
  parentId?: string,
): Promise<T | null> {
  if (id === undefined) return null;
  const { json, parent } = RESOURCES[table];
  const { rows } = await read<{ same: boolean; doc: T }>(
    `SELECT r.organization_id = $1 ${parent ? `AND r.${parent} = $3` : ''} AS same, ${json}(r) AS doc FROM ${table} r WHERE r.id = $2`,
    parent ? [caller.orgId, id, parentId] : [caller.orgId, id],
  );
  if (!rows[0]) return null;
  if (!rows[0].same) throw new Problem(409, 'ID_CONFLICT', 'This id is already taken', 'Generate a new UUID for a new resource.');
  return rows[0].doc;
}

/** What a create answers: the resource, and whether this request made it (201) or found it (200). */
export interface Creation<T> {
  doc: T;
  created: boolean;
}
