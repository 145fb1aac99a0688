import { confirmUpload } from '../../domain/attachments';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  const { doc, created } = await confirmUpload(request.caller, request.trace, idParam(request, 'attachmentId', 'Upload'));
  return { status: created ? 201 : 200, body: doc };
});
