import { read } from '../shared/db';
import { Problem } from '../shared/problem';
import type { Caller } from './tenancy';

const JSON_OF = { projects: 'project_json', tasks: 'task_json', comments: 'comment_json' } as const;

/**
 * After a create with a client-supplied id inserted nothing: the caller's resource with that id (a
 * retried create returns what the first one made), or 409 ID_CONFLICT when the id is not the
 * caller's to use. Null when no row has the id (the create failed for another reason).
 */
export async function existingCreation<T>(table: keyof typeof JSON_OF, caller: Caller, id: string | undefined): Promise<T | null> {
  if (id === undefined) return null;
  const { rows } = await read<{ own: boolean; doc: T }>(
    `SELECT r.organization_id = $1 AS own, ${JSON_OF[table]}(r) AS doc FROM ${table} r WHERE r.id = $2`,
    [caller.orgId, id],
  );
  if (!rows[0]) return null;
  if (!rows[0].own) throw new Problem(409, 'ID_CONFLICT', 'This id is already taken', 'Generate a new UUID for a new resource.');
  return rows[0].doc;
}

/** What a create answers: the resource, and whether this request made it (201) or found it (200). */
export interface Creation<T> {
  doc: T;
  created: boolean;
}
