import type { Caller } from '../shared/caller';
import { read } from '../shared/db';
import type { CommentDto, TaskDto } from './schemas';

export type SearchHit = { type: 'task'; rank: number; task: TaskDto } | { type: 'comment'; rank: number; comment: CommentDto };

/**
 * PostgreSQL full-text search (GIN indexes on generated tsvectors) over the caller's organization;
 * `q` takes web-search syntax: words, "quoted phrases", -exclusions, OR. See docs/search.md.
 */
export async function search(caller: Caller, q: string, limit: number): Promise<SearchHit[]> {
  const { rows } = await read<{ type: 'task' | 'comment'; rank: number; doc: TaskDto & CommentDto }>(
    `WITH query AS (SELECT websearch_to_tsquery('english', $2) AS q)
     SELECT * FROM (
       (SELECT 'task' AS type, ts_rank(t.search_vector, query.q) AS rank, task_json(t) AS doc
        FROM tasks t, query WHERE t.organization_id = $1 AND t.search_vector @@ query.q AND NOT project_deleted(t.project_id)
        ORDER BY rank DESC LIMIT $3)
       UNION ALL
       (SELECT 'comment', ts_rank(c.search_vector, query.q), comment_json(c)
        FROM comments c JOIN tasks t ON t.id = c.task_id, query
        WHERE c.organization_id = $1 AND c.search_vector @@ query.q AND NOT project_deleted(t.project_id)
        ORDER BY 2 DESC LIMIT $3)
     ) hits
     ORDER BY rank DESC, type
     LIMIT $3`,
    [caller.orgId, q, limit],
  );
  return rows.map((row) =>
    row.type === 'task' ? { type: 'task', rank: row.rank, task: row.doc } : { type: 'comment', rank: row.rank, comment: row.doc },
  );
}
