import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { DynamoDbError, dynamoDb } from '../../functions/shared/dynamodb';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import type { TableDeclaration } from '../declaration';

/**
 * How long a call to dynalite may take before the rate limiter and the circuit breakers give up on it (1 s in AWS):
 * dynalite answers one call at a time, and one process here plays many Lambda environments, so a burst of requests
 * queues calls for seconds, which a 1 s timeout would take for an outage (and the rate limiter fail open on).
 */
export const LOCAL_CALL_TIMEOUT_MS = '10000';

export interface LocalDynamoDb {
  endpoint: string;
  /** A declared table's name here. */
  tableName(name: string): string;
  /** Environment the handlers need to reach it: endpoint, region, credentials, table names. */
  environment: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Creates a table and waits until it is ACTIVE, as a client of DynamoDB must: dynalite, like DynamoDB, answers
 * CreateTable while the table is still CREATING, and refuses calls on it (ResourceNotFoundException) until then.
 */
export async function createTable(call: ReturnType<typeof dynamoDb>, input: { TableName: string } & Record<string, unknown>): Promise<void> {
  await call('CreateTable', input);
  for (let tries = 0; ; tries += 1) {
    const { Table } = await call<{ Table?: { TableStatus?: string } }>('DescribeTable', { TableName: input.TableName });
    if (Table?.TableStatus === 'ACTIVE') return;
    if (tries >= 100) throw new Error(`${input.TableName} is still ${Table?.TableStatus ?? 'missing'} after its creation`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * DynamoDB for the local runtime and the tests: dynalite on loopback (persisted under `dataDir`, or in
 * memory), with the declared tables created. Handlers reach it through AWS_ENDPOINT_URL_DYNAMODB.
 */
export async function startDynamoDb(tables: Record<string, TableDeclaration>, dataDir?: string): Promise<LocalDynamoDb> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(dataDir ? { path: join(dataDir, 'dynamodb') } : {}) });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const environment: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    // dynalite checks no signature; the signer still wants credentials.
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    RATE_LIMIT_TIMEOUT_MS: LOCAL_CALL_TIMEOUT_MS,
    BREAKER_TIMEOUT_MS: LOCAL_CALL_TIMEOUT_MS,
  };
  const call = dynamoDb(environment);
  const tableName = (name: string) => `taskflow-${name}`;
  for (const [name, table] of Object.entries(tables)) {
    environment[tableNameVariable(name)] = tableName(name);
    const keys = [
      { AttributeName: table.partitionKey, KeyType: 'HASH' },
      ...(table.sortKey ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' }] : []),
    ];
    try {
      await createTable(call, {
        TableName: tableName(name),
        AttributeDefinitions: keys.map(({ AttributeName }) => ({ AttributeName, AttributeType: 'S' })),
        KeySchema: keys,
        BillingMode: 'PAY_PER_REQUEST',
      });
    } catch (error) {
      if (!(error instanceof DynamoDbError && error.name === 'ResourceInUseException')) throw error; // kept from a previous start
    }
  }
  return {
    endpoint,
    tableName,
    environment,
    stop: () => new Promise<void>((done) => server.close(() => done())),
  };
}
