import { headOf } from '../domain/feed-registry';
import { webSocketHandler } from '../shared/websocket';
import { AnyMessage } from './messages';

/** Keepalive (API Gateway idles a connection out after 10 minutes); headSeq lets a client see it missed the last event. */
export const handler = webSocketHandler(AnyMessage, async ({ identity }) => ({ type: 'pong', headSeq: await headOf(identity.orgId) }));
