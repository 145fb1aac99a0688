import { deleteAttachment } from '../../domain/attachments';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteAttachment(request.caller, request.trace, idParam(request, 'attachmentId', 'Attachment'));
  return { status: 204 };
});
