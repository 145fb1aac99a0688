import { listProjects } from '../../domain/projects';
import { ListProjectsQuery } from '../../domain/schemas';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({ query: ListProjectsQuery }, async ({ caller, query }) => ({
  status: 200,
  body: await listProjects(caller, query.limit, query.cursor, query.archived === 'true'),
}));
