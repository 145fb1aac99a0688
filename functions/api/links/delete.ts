import { deleteLink } from '../../domain/links';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  await deleteLink(request.caller, idParam(request, 'linkId', 'Link'));
  return { status: 204 };
});
