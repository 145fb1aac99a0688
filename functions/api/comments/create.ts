import { createComment } from '../../domain/comments';
import { CreateCommentBody } from '../../domain/schemas';
import { httpHandler, idParam } from '../../shared/http';

export const handler = httpHandler({ body: CreateCommentBody }, async (request) => ({
  status: 201,
  body: await createComment(request.caller, request.requestId, idParam(request, 'taskId', 'Task'), request.body.body),
}));
