import { usageOf } from '../../domain/usage';
import { httpHandler } from '../../shared/http';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await usageOf(request.caller) }));
