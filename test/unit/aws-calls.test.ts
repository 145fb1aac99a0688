import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCalls } from '../../functions/shared/aws-calls';
import { postToConnection } from '../../functions/shared/connections-api';
import { dynamoDb } from '../../functions/shared/dynamodb';

// A stand-in for AWS on loopback: answers every call with the same small JSON document.
const ANSWER = '{"Item":{"id":{"S":"x"}}}';
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume().on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const credentials = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

describe('AWS calls counted at the wire', () => {
  it('counts each DynamoDB call by operation and table, with the bodies sent and received', async () => {
    const call = dynamoDb({ ...credentials, AWS_ENDPOINT_URL_DYNAMODB: endpoint });
    const key = 'dynamodb UpdateItem counted-table';
    const before = awsCalls.get(key) ?? { calls: 0, requestBytes: 0, responseBytes: 0 };
    const input = { TableName: 'counted-table', Key: { id: { S: 'x' } } };
    await call('UpdateItem', input);
    await call('UpdateItem', input);
    expect(awsCalls.get(key)).toEqual({
      calls: before.calls + 2,
      requestBytes: before.requestBytes + 2 * Buffer.byteLength(JSON.stringify(input)),
      responseBytes: before.responseBytes + 2 * ANSWER.length,
    });
  });

  it('counts each @connections post', async () => {
    Object.assign(process.env, credentials, { WEBSOCKET_MANAGEMENT_URL: `${endpoint}/v1` });
    const key = `execute-api PostToConnection ${new URL(endpoint).host}`;
    const before = awsCalls.get(key)?.calls ?? 0;
    expect(await postToConnection('connection-1', 'frame')).toBe('sent');
    expect(awsCalls.get(key)?.calls).toBe(before + 1);
  });
});
