import { deleteAttachment } from '../../domain/attachments';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  await deleteAttachment(request.caller, request.trace, idParam(request, 'attachmentId', 'Attachment'));
  return { status: 204 };
});
