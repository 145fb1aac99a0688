import { deleteComment } from '../../domain/comments';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  await deleteComment(request.caller, request.trace, idParam(request, 'commentId', 'Comment'));
  return { status: 204 };
});
