import { deleteLink } from '../../domain/links';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteLink(request.caller, idParam(request, 'linkId', 'Link'));
  return { status: 204 };
});
