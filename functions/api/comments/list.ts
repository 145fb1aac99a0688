import { listComments } from '../../domain/comments';
import { ListCommentsQuery } from '../../domain/schemas';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({ query: ListCommentsQuery }, async (request) => ({
  status: 200,
  body: await listComments(request.caller, idParam(request, 'taskId', 'Task'), request.query.limit, request.query.cursor),
}));
