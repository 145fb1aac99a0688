import { connectionOf, recordAck } from '../domain/feed-registry';
import { errorFrame, webSocketHandler } from '../shared/websocket';
import { AckMessage } from './messages';

/** Records how far this client (the connection's clientId) has processed the feed; an older ack changes nothing. */
export const handler = webSocketHandler(AckMessage, async ({ identity, connectionId, message }) => {
  const connection = await connectionOf(identity.orgId, connectionId);
  if (!connection) return errorFrame('UNAVAILABLE', 'The connection is not registered; reconnect');
  await recordAck(identity.orgId, identity.userId, connection.clientId, message.seq);
  return { type: 'acked', seq: message.seq };
});
