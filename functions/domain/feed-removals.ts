import type { BroadcastEvent } from './broadcast';
import { connectionsOfMember, removeConnection } from './feed-registry';

/** Closes one WebSocket connection (API Gateway's DeleteConnection). */
export type CloseConnection = (connectionId: string) => Promise<void>;

/**
 * A member removed from their organization (member.removed) is dropped from the feed: each of their connections,
 * subscribed or not, is closed and forgotten, before the batch is broadcast, so nothing after their removal reaches
 * them ($connect refuses them from then on). Answers the messages to receive again: those whose closing failed.
 */
export async function closeRemovedMembers(
  events: readonly BroadcastEvent[],
  close: CloseConnection,
  log: (message: string, extra: Record<string, unknown>) => void,
): Promise<string[]> {
  const failed: string[] = [];
  for (const { messageId, message } of events) {
    if (message.type !== 'member.removed') continue;
    const userId = (message.payload as { id: string }).id;
    try {
      for (const connection of await connectionsOfMember(message.organizationId, userId)) {
        await close(connection.connectionId);
        await removeConnection(message.organizationId, connection.connectionId);
      }
    } catch (error) {
      log('the removed member\'s connections could not all be closed; the message will be received again', { messageId, error });
      failed.push(messageId);
    }
  }
  return failed;
}
