import { deleteComment } from '../../domain/comments';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteComment(request.caller, request.trace, idParam(request, 'commentId', 'Comment'));
  return { status: 204 };
});
