import { deleteLink } from '../../domain/links';
import { httpHandler, idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteLink(request.caller, idParam(request, 'linkId', 'Link'));
  return { status: 204 };
});
