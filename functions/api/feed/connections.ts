import { connectionsAgainstCap } from '../../domain/feed-registry';
import { feedSettings } from '../../shared/feed-settings';
import { httpHandler } from '../http-handler';

// What a feed client asks after a refused WebSocket handshake (docs/feed.md): a 401 here is its token; `atCap`, the
// organization's connection cap.
export const handler = httpHandler({}, async (request) => ({
  status: 200,
  body: await connectionsAgainstCap(request.caller.orgId, feedSettings().connectionCap),
}));
