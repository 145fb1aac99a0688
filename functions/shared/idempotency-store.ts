import {
  IdempotencyConfig,
  IdempotencyItemAlreadyExistsError,
  IdempotencyItemNotFoundError,
  IdempotencyRecordStatus,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { IdempotencyConfigOptions } from '@aws-lambda-powertools/idempotency/types';
import type { Context } from 'aws-lambda';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { DynamoDbError, dynamoDb, type AttributeValue } from './dynamodb';
import { requiredEnv } from './env';
import { tableNameVariable } from './resource-variables';

type Item = Record<string, AttributeValue | undefined>;

/**
 * Powertools idempotency records in DynamoDB, item for item what Powertools' own
 * DynamoDBPersistenceLayer writes (same attributes and conditions; the response is stored as a JSON
 * string), over TaskFlow's signed JSON-API calls instead of the SDK client, to keep the bundles small.
 */
export class DynamoDbIdempotencyStore extends BasePersistenceLayer {
  readonly #call = dynamoDb();

  constructor(readonly tableName: string) {
    super();
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    // A record that blocks the put but is gone when read (its request failed meanwhile) frees the key: try again.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const existing = await this.#tryPut(record);
      if (existing === 'stored') return;
      if (existing) throw new IdempotencyItemAlreadyExistsError(`idempotency key ${record.idempotencyKey} is taken`, existing);
    }
    throw new IdempotencyItemAlreadyExistsError(`idempotency key ${record.idempotencyKey} is taken`);
  }

  /** 'stored', or the record that blocked the put (null if it vanished before it could be read). */
  async #tryPut(record: IdempotencyRecord): Promise<'stored' | IdempotencyRecord | null> {
    const now = Date.now();
    const item: Item = {
      id: { S: record.idempotencyKey },
      expiration: { N: String(record.expiryTimestamp) },
      status: { S: record.getStatus() },
      in_progress_expiration: record.inProgressExpiryTimestamp === undefined ? undefined : { N: String(record.inProgressExpiryTimestamp) },
      validation: this.isPayloadValidationEnabled() && record.payloadHash !== undefined ? { S: record.payloadHash } : undefined,
    };
    try {
      await this.#call('PutItem', {
        TableName: this.tableName,
        Item: defined(item),
        // Free, expired, or an in-progress record whose Lambda must have died.
        ConditionExpression:
          'attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)',
        ExpressionAttributeNames: { '#id': 'id', '#expiry': 'expiration', '#status': 'status', '#in_progress_expiry': 'in_progress_expiration' },
        ExpressionAttributeValues: {
          ':now': { N: String(now / 1000) },
          ':now_in_millis': { N: String(now) },
          ':inprogress': { S: IdempotencyRecordStatus.INPROGRESS },
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
      return 'stored';
    } catch (error) {
      if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
      if (error.item) return toRecord(error.item);
      // dynalite does not return the item that failed the condition; DynamoDB does.
      try {
        return await this._getRecord(record.idempotencyKey);
      } catch (missing) {
        if (missing instanceof IdempotencyItemNotFoundError) return null;
        throw missing;
      }
    }
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const { Item } = await this.#call<{ Item?: Item }>('GetItem', {
      TableName: this.tableName,
      Key: { id: { S: idempotencyKey } },
      ConsistentRead: true,
    });
    if (!Item) throw new IdempotencyItemNotFoundError();
    return toRecord(Item);
  }

  protected async _updateRecord(record: IdempotencyRecord): Promise<void> {
    const names: Record<string, string> = { '#expiry': 'expiration', '#status': 'status' };
    const values: Item = { ':expiry': { N: String(record.expiryTimestamp) }, ':status': { S: record.getStatus() } };
    if (record.responseData !== undefined) {
      names['#response_data'] = 'data';
      values[':response_data'] = { S: JSON.stringify(record.responseData) };
    }
    if (this.isPayloadValidationEnabled() && record.payloadHash !== undefined) {
      names['#validation_key'] = 'validation';
      values[':validation_key'] = { S: record.payloadHash };
    }
    await this.#call('UpdateItem', {
      TableName: this.tableName,
      Key: { id: { S: record.idempotencyKey } },
      UpdateExpression: `SET ${Object.keys(names).map((name) => `${name} = :${name.slice(1)}`).join(', ')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  protected async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    await this.#call('DeleteItem', { TableName: this.tableName, Key: { id: { S: record.idempotencyKey } } });
  }
}

function toRecord(item: Item): IdempotencyRecord {
  const text = (name: string) => (item[name] as { S: string } | undefined)?.S;
  const number = (name: string) => {
    const value = (item[name] as { N: string } | undefined)?.N;
    return value === undefined ? undefined : Number(value);
  };
  const data = text('data');
  return new IdempotencyRecord({
    idempotencyKey: text('id')!,
    status: text('status') as (typeof IdempotencyRecordStatus)[keyof typeof IdempotencyRecordStatus],
    expiryTimestamp: number('expiration'),
    inProgressExpiryTimestamp: number('in_progress_expiration'),
    responseData: data === undefined ? undefined : JSON.parse(data),
    payloadHash: text('validation'),
  });
}

function defined(item: Item): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined)) as Record<string, AttributeValue>;
}

/**
 * `fn` made idempotent on the idempotency table, built on first use (only the functions that use it
 * need the table). makeIdempotent, not the middy middleware: the middleware's onError in Powertools
 * 2.35.0 deletes a record it never acquired (a concurrent duplicate, a payload mismatch); here a
 * record is deleted only when this invocation's own execution failed. The fixed `keyPrefix` (instead of
 * the function's name) lets a replaced function still find its records.
 */
export function idempotentOnTable<Input, Output>(fn: (input: Input) => Promise<Output>, options: IdempotencyConfigOptions, keyPrefix: string) {
  let made: { run: (input: Input) => Promise<Output>; config: IdempotencyConfig } | undefined;
  return (context: Context) => {
    if (!made) {
      const config = new IdempotencyConfig(options);
      const persistenceStore = new DynamoDbIdempotencyStore(requiredEnv(tableNameVariable('idempotency')));
      made = { run: makeIdempotent(fn, { persistenceStore, config, keyPrefix }) as (input: Input) => Promise<Output>, config };
    }
    made.config.registerLambdaContext(context);
    return made.run;
  };
}
