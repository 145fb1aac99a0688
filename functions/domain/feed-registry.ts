import { dynamoDb, DynamoDbError, type AttributeValue } from '../shared/dynamodb';
import { requiredEnv } from '../shared/env';
import { tableNameVariable } from '../shared/resource-variables';

// The connections table (lib/app.ts), one partition per organization:
// - `org#<org>` / `connection#<id>`: a WebSocket connection, its user, clientId and subscription;
// - `org#<org>` / `head`: the organization's latest broadcast sequence number (pong's headSeq);
// - `ack#<org>#<user>` / `<clientId>`: how far that client has processed the feed;
// - `probe` / `last`: the synthetic probe's last result (GET /health).

/** A connection ends within API Gateway's 2 hours; the item outlives it a little in case $disconnect never comes. */
const CONNECTION_TTL_SECONDS = 2 * 3600 + 600;
const ACK_TTL_SECONDS = 30 * 24 * 3600;

export interface Connection {
  connectionId: string;
  userId: string;
  clientId: string;
  /** Undefined: not subscribed yet; null: the whole organization. */
  projectId?: string | null;
}

let call: ReturnType<typeof dynamoDb> | undefined;
const dynamo = () => (call ??= dynamoDb());
const table = () => requiredEnv(tableNameVariable('connections'));
const orgKey = (orgId: string) => ({ S: `org#${orgId}` });
const connectionKey = (orgId: string, connectionId: string) => ({ pk: orgKey(orgId), sk: { S: `connection#${connectionId}` } });
const expiresIn = (seconds: number) => ({ N: String(Math.floor(Date.now() / 1000) + seconds) });

/** The organization's live connections against its cap (GET /feed/connections: was a refused handshake the cap?). */
export async function connectionsAgainstCap(orgId: string, cap: number): Promise<{ connections: number; cap: number; atCap: boolean }> {
  const connections = await countConnections(orgId);
  return { connections, cap, atCap: connections >= cap };
}

async function countConnections(orgId: string, consistent = false): Promise<number> {
  const { Count } = await dynamo()<{ Count: number }>('Query', { TableName: table(), ...liveConnections(orgId), Select: 'COUNT', ConsistentRead: consistent });
  return Count;
}

/**
 * Registers a connection unless its organization already has `cap` (counted with a consistent read;
 * connections made at the same instant may pass it by a few, and a connection whose $disconnect never
 * came counts until its first failed post or its expiry).
 */
export async function registerConnection(orgId: string, connection: Omit<Connection, 'projectId'>, cap: number): Promise<'registered' | 'over-cap'> {
  if ((await countConnections(orgId, true)) >= cap) return 'over-cap';
  await dynamo()('PutItem', { TableName: table(), Item: connectionItem(orgId, connection) });
  return 'registered';
}

/** A connection's registry item as $connect writes it, and as subscribe leaves it when `projectId` is given. */
export function connectionItem(orgId: string, connection: Connection) {
  return {
    ...connectionKey(orgId, connection.connectionId),
    userId: { S: connection.userId },
    clientId: { S: connection.clientId },
    connectedAt: { N: String(Date.now()) },
    expiration: expiresIn(CONNECTION_TTL_SECONDS),
    ...(connection.projectId === undefined ? {} : { projectId: connection.projectId === null ? { NULL: true } : { S: connection.projectId } }),
  };
}

export async function removeConnection(orgId: string, connectionId: string): Promise<void> {
  await dynamo()('DeleteItem', { TableName: table(), Key: connectionKey(orgId, connectionId) });
}

/** Sets (or replaces) the connection's subscription; false when the connection is not registered (any more). */
export async function subscribe(orgId: string, connectionId: string, projectId: string | null): Promise<boolean> {
  try {
    await dynamo()('UpdateItem', {
      TableName: table(),
      Key: connectionKey(orgId, connectionId),
      UpdateExpression: 'SET projectId = :project',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':project': projectId === null ? { NULL: true } : { S: projectId } },
    });
    return true;
  } catch (error) {
    if (error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

export async function connectionOf(orgId: string, connectionId: string): Promise<Connection | undefined> {
  const { Item } = await dynamo()<{ Item?: Record<string, AttributeValue> }>('GetItem', {
    TableName: table(),
    Key: connectionKey(orgId, connectionId),
    ConsistentRead: true,
  });
  return Item ? toConnection(Item) : undefined;
}

/** The organization's connections, less those past their expiry that TTL has not deleted yet (it may take days). */
function liveConnections(orgId: string) {
  return {
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    FilterExpression: 'expiration > :now',
    ExpressionAttributeValues: { ':pk': orgKey(orgId), ':prefix': { S: 'connection#' }, ':now': { N: String(Math.floor(Date.now() / 1000)) } },
  };
}

/** The organization's subscribed connections (every page of them). */
export async function subscribedConnections(orgId: string): Promise<Connection[]> {
  const connections: Connection[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo()<{ Items: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue> }>('Query', {
      TableName: table(),
      ...liveConnections(orgId),
      // A subscription written just before must be seen: subscribe-then-resume leaves no gap only then.
      ConsistentRead: true,
      ...(start ? { ExclusiveStartKey: start } : {}),
    });
    for (const item of page.Items) {
      const connection = toConnection(item);
      if (connection.projectId !== undefined) connections.push(connection);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return connections;
}

/** A member's live connections to the organization's feed, subscribed or not (every page of them). */
export async function connectionsOfMember(orgId: string, userId: string): Promise<Connection[]> {
  const live = liveConnections(orgId);
  const connections: Connection[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo()<{ Items: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue> }>('Query', {
      TableName: table(),
      ...live,
      FilterExpression: `${live.FilterExpression} AND userId = :user`,
      ExpressionAttributeValues: { ...live.ExpressionAttributeValues, ':user': { S: userId } },
      ConsistentRead: true,
      ...(start ? { ExclusiveStartKey: start } : {}),
    });
    connections.push(...page.Items.map(toConnection));
    start = page.LastEvaluatedKey;
  } while (start);
  return connections;
}

/** Moves a number forward only: a late or repeated write never takes it back. */
async function advance(key: Record<string, AttributeValue>, seq: number, ttlSeconds?: number): Promise<void> {
  try {
    await dynamo()('UpdateItem', {
      TableName: table(),
      Key: key,
      UpdateExpression: `SET seq = :seq${ttlSeconds ? ', expiration = :expiration' : ''}`,
      ConditionExpression: 'attribute_not_exists(seq) OR seq < :seq',
      ExpressionAttributeValues: { ':seq': { N: String(seq) }, ...(ttlSeconds ? { ':expiration': expiresIn(ttlSeconds) } : {}) },
    });
  } catch (error) {
    if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
  }
}

async function seqAt(key: Record<string, AttributeValue>): Promise<number | null> {
  const { Item } = await dynamo()<{ Item?: { seq?: { N: string } } }>('GetItem', { TableName: table(), Key: key, ConsistentRead: true });
  return Item?.seq ? Number(Item.seq.N) : null;
}

const headKey = (orgId: string) => ({ pk: orgKey(orgId), sk: { S: 'head' } });
const ackKey = (orgId: string, userId: string, clientId: string) => ({ pk: { S: `ack#${orgId}#${userId}` }, sk: { S: clientId } });

export const advanceHead = (orgId: string, seq: number) => advance(headKey(orgId), seq);
export const headOf = (orgId: string) => seqAt(headKey(orgId));
export const recordAck = (orgId: string, userId: string, clientId: string, seq: number) => advance(ackKey(orgId, userId, clientId), seq, ACK_TTL_SECONDS);
export const ackOf = (orgId: string, userId: string, clientId: string) => seqAt(ackKey(orgId, userId, clientId));

export interface ProbeResult {
  at: string;
  ok: boolean;
  deliveryMs?: number;
  reason?: string;
}

const probeKey = { pk: { S: 'probe' }, sk: { S: 'last' } };

export async function recordProbe(result: ProbeResult): Promise<void> {
  await dynamo()('PutItem', { TableName: table(), Item: { ...probeKey, result: { S: JSON.stringify(result) } } });
}

export async function lastProbe(): Promise<ProbeResult | null> {
  const { Item } = await dynamo()<{ Item?: { result?: { S: string } } }>('GetItem', { TableName: table(), Key: probeKey });
  return Item?.result ? (JSON.parse(Item.result.S) as ProbeResult) : null;
}

function toConnection(item: Record<string, AttributeValue>): Connection {
  const text = (name: string) => (item[name] as { S?: string } | undefined)?.S;
  const project = item.projectId;
  return {
    connectionId: text('sk')!.slice('connection#'.length),
    userId: text('userId')!,
    clientId: text('clientId') ?? 'default',
    ...(project === undefined ? {} : { projectId: 'S' in project ? project.S : null }),
  };
}
