import { usageOf } from '../../domain/usage';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await usageOf(request.caller) }));
