import { createComment } from '../../domain/comments';
import { CreateCommentBody } from '../../domain/schemas';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';
import { create } from '../creation';

export const handler = mutationHandler({ body: CreateCommentBody }, async (request) => {
  const taskId = idParam(request, 'taskId', 'Task');
  const { status, doc } = await create(request, (id) => createComment(request.caller, request.trace, taskId, { ...request.body, id }));
  return { status, body: doc };
});
