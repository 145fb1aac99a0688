import { ListTasksQuery } from '../../domain/schemas';
import { listTasks } from '../../domain/tasks';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({ query: ListTasksQuery }, async (request) => ({
  status: 200,
  body: await listTasks(request.caller, idParam(request, 'projectId', 'Project'), request.query),
}));
