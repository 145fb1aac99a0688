import { createComment } from '../../domain/comments';
import { CreateCommentBody } from '../../domain/schemas';
import { httpHandler, idParam } from '../../shared/http';

export const handler = httpHandler({ body: CreateCommentBody }, async (request) => {
  const { doc, created } = await createComment(request.caller, request.requestId, idParam(request, 'taskId', 'Task'), request.body);
  return { status: created ? 201 : 200, body: doc };
});
