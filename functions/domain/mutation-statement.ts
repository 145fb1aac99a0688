import type { Trace } from '../shared/trace';
import { destinationsOf, FAST_PATH_LEASE, OUTBOX_ENTRIES } from './outbox';
import { QUOTA_COLUMNS, type CountedQuota } from './quotas';

// A mutation is ONE statement: the change, its event in `event_log`, the event's outbox entries (one per queue
// that takes its type) and the quotas' counts, so they commit together or not at all, in one round trip. The
// organization's next sequence number is taken under its row lock, so sequence order is commit order.
// This module puts such a statement together from named parts; each part's SQL names its parameters.

/** CTEs by name, in the order they run. */
export type Ctes = Record<string, string>;

export interface MutationParts {
  /** CTEs that run first, before `quota` locks the organization's row: rows to lock before it (lock order) and what they need. */
  first?: Ctes;
  /**
   * A create under a plan's limit: the CTE `quota` locks the organization's row and reads the count and the plan,
   * so concurrent creates are counted one after the other; the change inserts only `WHERE underQuota(…)`, and
   * the final SELECT returns `used` (the count before) and `plan`. `lockOnlyIf`: a condition on that lock.
   */
  quota?: { counted: CountedQuota; lockOnlyIf?: string };
  /** CTEs between `quota` and the change, which the change builds on. */
  steps?: Ctes;
  /**
   * The change: the CTE `changed`, the changed rows with `id`, `project_id` and `doc` (the API representation),
   * `previous` (what the change replaced) for events that carry it, and `type` for an event per row.
   */
  change: string;
  /** Keeps the changed task's new version in `task_versions` (for merging stale updates) and forgets the oldest. */
  taskVersion?: boolean;
  /**
   * One event, of the one changed row (`withPrevious`: with its `previous`); or one per changed row, of the type in
   * its `type` column (one of `types`), with its `previous`, numbered in the event log in `order` (over `changed c`).
   */
  event: { type: string; withPrevious?: boolean } | { types: readonly string[]; order: string };
  /** Who the event names as its actor, in SQL, when it is not the user passed in (an import acts as its link's creator). */
  actor?: string;
  /** What the change adds to the quotas' counts (a number or SQL), counted in the same UPDATE of the organization's row as its event. */
  counts?: Partial<Record<CountedQuota, number | string>>;
  /** CTEs after the outbox entries. */
  after?: Ctes;
  /**
   * The final SELECT: `columns` besides `outbox` (the entries to publish; and `used` and `plan` with a quota); one row,
   * or one per changed row with `from: 'changed'` (none when nothing changed).
   */
  select?: { columns?: string; from?: 'changed' };
}

/** Who changes what, in which request: every event and outbox entry carries them. */
export interface MutationScope<Name extends string> {
  organizationId: string;
  /** The user the event names as its actor (`$.actor`); without one, `parts.actor` names it. */
  actorId?: string;
  trace: Trace;
  /** The statement's own values, by name: `$.name` in the parts' SQL. */
  values: Record<Name, unknown>;
}

/** The placeholders of named values: `$.projectId` is `$5`, say, numbered in the order of first use. */
export type Placeholders<Name extends string> = { readonly [N in Name]: string };

/** Named by the scope: `$.organization`, `$.actor`, `$.requestId`, `$.traceparent`. */
type ScopeName = 'organization' | 'actor' | 'requestId' | 'traceparent';

// Versions kept per task for merging stale updates: far more than concurrent editors ever lag behind.
const KEPT_VERSIONS = 100;

/**
 * A mutation statement and its parameters. `parts` gets the placeholders of the scope's and the statement's
 * values (`$.organization`, `$.taskId`, …) and `param(value)`, a placeholder for a value with no name.
 *
 *   const { text, params } = mutationStatement({ organizationId, actorId, trace, values: { projectId, name } }, ($) => ({
 *     change: `UPDATE projects SET name = ${$.name} WHERE organization_id = ${$.organization} AND id = ${$.projectId}
 *              RETURNING id, id AS project_id, project_json(projects) AS doc`,
 *     event: { type: 'project.updated' },
 *     select: { columns: 'doc', from: 'changed' },
 *   }));
 */
export function mutationStatement<Name extends string>(
  scope: MutationScope<Name>,
  parts: ($: Placeholders<Name | ScopeName>, param: (value: unknown) => string) => MutationParts,
): { text: string; params: unknown[] } {
  const { organizationId, actorId, trace, values } = scope;
  const named: Record<string, unknown> = {
    organization: organizationId,
    ...(actorId === undefined ? {} : { actor: actorId }),
    requestId: trace.requestId,
    traceparent: trace.traceparent,
  };
  for (const [name, value] of Object.entries(values)) {
    if (Object.hasOwn(named, name) || name === 'actor') throw new Error(`mutationStatement: "${name}" is the scope's name`);
    named[name] = value;
  }
  const { placeholders, param, params } = parameters(named);
  const $ = placeholders as Placeholders<Name | ScopeName>;
  const part = parts($, param);
  const actor = part.actor ?? $.actor;
  const ctes = [
    part.first,
    part.quota && { quota: quotaLock(part.quota, $.organization) },
    part.steps,
    { changed: part.change },
    part.taskVersion && taskVersion(actor),
    event(part, { organization: $.organization, actor, requestId: $.requestId, traceparent: $.traceparent }),
    part.after,
  ].flatMap((group) => Object.entries(group || {}));
  const names = ctes.map(([name]) => name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) throw new Error(`mutationStatement: two CTEs named "${repeated}"`);
  const columns = [part.select?.columns, OUTBOX_ENTRIES, part.quota ? QUOTA_STATE : undefined].filter((column) => column !== undefined);
  const text = `WITH ${ctes.map(([name, body]) => `${name} AS (\n${body}\n)`).join(', ')}
SELECT ${columns.join(', ')}${part.select?.from ? ` FROM ${part.select.from}` : ''}`;
  return { text, params };
}

/** Placeholders numbered in the order of first use, so each value is sent once and every one sent is used. */
function parameters(named: Record<string, unknown>) {
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  const numbered = new Map<string, string>();
  const placeholders = new Proxy({}, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      if (!Object.hasOwn(named, name)) throw new Error(`mutationStatement: no value named "${name}"`);
      let placeholder = numbered.get(name);
      if (placeholder === undefined) numbered.set(name, (placeholder = param(named[name])));
      return placeholder;
    },
  });
  return { placeholders, param, params };
}

function quotaLock({ counted, lockOnlyIf }: NonNullable<MutationParts['quota']>, organization: string): string {
  return `SELECT ${QUOTA_COLUMNS[counted]} AS used, plan FROM organizations
WHERE id = ${organization}${lockOnlyIf ? ` AND ${lockOnlyIf}` : ''}
FOR UPDATE`;
}

/** In the final SELECT: the count before this statement, and the plan. */
const QUOTA_STATE = '(SELECT used FROM quota) AS used, (SELECT plan FROM quota) AS plan';

function taskVersion(actor: string): Ctes {
  return {
    versioned: `INSERT INTO task_versions (task_id, version, doc, changed_by)
SELECT c.id, (c.doc->>'version')::bigint, c.doc, ${actor} FROM changed c`,
    forgotten: `DELETE FROM task_versions v USING changed c
WHERE v.task_id = c.id AND v.version <= (c.doc->>'version')::bigint - ${KEPT_VERSIONS}`,
  };
}

interface EventScope {
  organization: string;
  actor: string;
  requestId: string;
  traceparent: string;
}

const EVENT_LOG_COLUMNS = '(organization_id, seq, type, subject_id, project_id, actor_id, request_id, payload)';
const OUTBOX_COLUMNS = '(organization_id, event_id, destination, body, request_id, traceparent, locked_until)';

/** The event CTEs: the organization's sequence (and counts), the event-log rows, their outbox entries. */
function event({ event, counts = {} }: MutationParts, scope: EventScope): Ctes {
  const { organization, actor, requestId, traceparent } = scope;
  const counted = Object.entries(counts)
    .map(([quota, by]) => `, ${QUOTA_COLUMNS[quota as CountedQuota]} = ${QUOTA_COLUMNS[quota as CountedQuota]} + (${by})`)
    .join('');
  const message = (type: string, previous: string) => `jsonb_build_object(
    'eventId', a.id, 'organizationId', ${organization}::text, 'seq', a.seq, 'type', ${type}, 'subjectId', a.subject_id,
    'projectId', a.project_id, 'actorId', ${actor}::text, 'occurredAt', api_timestamp(a.created_at), 'payload', a.payload,
    'previous', ${previous})`;
  if ('type' in event) {
    return {
      event_seq: `UPDATE organizations SET event_seq = event_seq + 1${counted}
WHERE id = ${organization} AND EXISTS (SELECT 1 FROM changed)
RETURNING event_seq`,
      appended: `INSERT INTO event_log ${EVENT_LOG_COLUMNS}
SELECT ${organization}, event_seq.event_seq, '${event.type}', c.id, c.project_id, ${actor}, ${requestId}, c.doc
FROM changed c, event_seq
RETURNING id, seq, subject_id, project_id, payload, created_at`,
      outboxed: `INSERT INTO outbox ${OUTBOX_COLUMNS}
SELECT ${organization}, a.id, d.destination,
  ${message(`'${event.type}'`, event.withPrevious ? '(SELECT c.previous FROM changed c)' : 'NULL::json')},
  ${requestId}, ${traceparent}::text, ${FAST_PATH_LEASE}
FROM appended a, unnest(${destinationsOf(event.type)}) AS d(destination)
RETURNING id, destination, body, request_id, traceparent`,
    };
  }
  const destinations = `CASE a.type ${event.types.map((type) => `WHEN '${type}' THEN ${destinationsOf(type)}`).join(' ')} END`;
  return {
    numbered: `SELECT c.*, row_number() OVER (ORDER BY ${event.order}) AS n FROM changed c`,
    // Sequence numbers for all of the statement's events at once, taken under the organization's row lock.
    event_seq: `UPDATE organizations SET event_seq = event_seq + (SELECT count(*) FROM changed)${counted}
WHERE id = ${organization} AND EXISTS (SELECT 1 FROM changed)
RETURNING event_seq - (SELECT count(*) FROM changed) AS base`,
    appended: `INSERT INTO event_log ${EVENT_LOG_COLUMNS}
SELECT ${organization}, e.base + n.n, n.type, n.id, n.project_id, ${actor}, ${requestId}, n.doc FROM numbered n, event_seq e
RETURNING id, seq, type, subject_id, project_id, payload, created_at`,
    outboxed: `INSERT INTO outbox ${OUTBOX_COLUMNS}
SELECT ${organization}, a.id, d.destination, ${message('a.type', 'c.previous')},
  ${requestId}, ${traceparent}::text, ${FAST_PATH_LEASE}
FROM appended a JOIN changed c ON c.id = a.subject_id, unnest(${destinations}) AS d(destination)
RETURNING id, destination, body, request_id, traceparent`,
  };
}
