import { getPreferences } from '../../domain/preferences';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await getPreferences(request.caller) }));
