import { updateComment } from '../../domain/comments';
import { UpdateCommentBody } from '../../domain/schemas';
import { etagOf, versionFromIfMatch } from '../../domain/tasks';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';
import { Problem } from '../../shared/problem';

export const handler = mutationHandler({ body: UpdateCommentBody }, async (request) => {
  const { version, body } = request.body;
  const ifMatch = request.headers['if-match'];
  const expected = ifMatch === undefined ? version : versionFromIfMatch(ifMatch);
  if (ifMatch !== undefined && version !== undefined && expected !== version) {
    throw new Problem(400, 'VERSION_MISMATCH', 'If-Match and the body `version` disagree');
  }
  // An edit replaces the whole text: it must say which text it replaces (If-Match: * is no version).
  if (expected === undefined || expected === null) {
    throw new Problem(428, 'PRECONDITION_REQUIRED', 'Send the version you are editing', 'Put `version` in the body or the ETag in If-Match.');
  }
  const comment = await updateComment(request.caller, request.trace, idParam(request, 'commentId', 'Comment'), body, expected);
  return { status: 200, body: comment, headers: { ETag: etagOf(comment) } };
});
