import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionsApiError, postToConnection } from '../../functions/shared/connections-api';

// The broadcast worker's one AWS call, as API Gateway's @connections API takes it (the local WebSocket
// emulation, which the SDK client is tested against, answers it in test/e2e/feed.test.ts).
const seen: { method: string; url: string; authorization: string; body: string }[] = [];
let status = 200;
const server = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, authorization: String(req.headers.authorization), body: Buffer.concat(chunks).toString() });
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(status === 200 ? '' : '{"message":"no"}');
  });
});
const before = { ...process.env };

beforeAll(async () => {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  Object.assign(process.env, {
    WEBSOCKET_MANAGEMENT_URL: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
  });
});
afterAll(async () => {
  process.env = before;
  await new Promise((done) => server.close(done));
});

describe('postToConnection', () => {
  it('POSTs the frame to /{stage}/@connections/{id}, signed for execute-api', async () => {
    status = 200;
    expect(await postToConnection('L0SM9cOFvHcCIhw=', '{"type":"events"}')).toBe('sent');
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/v1/@connections/L0SM9cOFvHcCIhw%3D', body: '{"type":"events"}' });
    expect(seen.at(-1)!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request/);
  });

  it('answers gone on 410 and throws on any other refusal', async () => {
    status = 410;
    expect(await postToConnection('gone', 'x')).toBe('gone');
    status = 429;
    await expect(postToConnection('busy', 'x')).rejects.toBeInstanceOf(ConnectionsApiError);
  });
});
