import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { createTable, startDynamoDb, type LocalDynamoDb } from '../../lib/local/dynamodb';

// dynalite, like DynamoDB, answers CreateTable while the table is still CREATING and refuses calls on it until it is
// ACTIVE: a fast client's next call could land in between (ResourceNotFoundException, 4 times in 10 here).
let dynamo: LocalDynamoDb;
beforeAll(async () => {
  dynamo = await startDynamoDb({});
});
afterAll(() => dynamo?.stop());

it('creates a table that takes calls as soon as createTable returns', async () => {
  const call = dynamoDb(dynamo.environment);
  for (let i = 0; i < 20; i += 1) {
    const TableName = `created-${randomUUID()}`;
    await createTable(call, {
      TableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    await call('PutItem', { TableName, Item: { id: { S: 'first' } } });
    expect(await call('GetItem', { TableName, Key: { id: { S: 'first' } } })).toEqual({ Item: { id: { S: 'first' } } });
  }
});
