import { randomUUID } from 'node:crypto';
import { startUpload } from '../../domain/attachments';
import { CreateAttachmentBody } from '../../domain/schemas';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

// A keyed retry gets the same attachment id (and so the same upload key).
export const handler = mutationHandler({ body: CreateAttachmentBody }, async (request) => ({
  status: 201,
  body: await startUpload(request.caller, request.idempotencyId ?? randomUUID(), idParam(request, 'taskId', 'Task'), request.body),
}));
