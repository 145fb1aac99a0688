import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FANOUT_SHARD_CONNECTIONS, type FanoutShard } from '../../functions/domain/messages';
import { taskflow } from '../../lib/app';
import { startEventSources, type EventSourceMappings } from '../../lib/local/event-sources';
import { sqsClient, startSqs, type LocalSqs } from '../../lib/local/sqs';
import { sendMessages } from '../../functions/shared/sqs';
import { bodyOf, drain } from '../support/queues';

// The fan-out worker as Lambda runs it: the declared feedFanout queue (its DLQ after maxReceiveCount) with its event
// source, the real handler, and a recording @connections endpoint. A shard is posted; a message that is no shard
// lands in the dead-letter queue, alone.

const app = { name: 'FanoutTest', queues: { feedFanout: taskflow.queues.feedFanout } };
const posted: { connectionId: string; frame: any }[] = [];
const endpoint = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const connectionId = decodeURIComponent(req.url!.split('/@connections/')[1]!);
    if (connectionId.startsWith('gone')) return res.writeHead(410).end('{"message":"GoneException"}');
    posted.push({ connectionId, frame: JSON.parse(Buffer.concat(chunks).toString()) });
    res.writeHead(200).end();
  });
});
const before = { ...process.env };
let sqs: LocalSqs;
let client: SQSClient;
let mappings: EventSourceMappings;

beforeAll(async () => {
  await new Promise<void>((done) => endpoint.listen(0, '127.0.0.1', done));
  Object.assign(process.env, {
    WEBSOCKET_MANAGEMENT_URL: `http://127.0.0.1:${(endpoint.address() as { port: number }).port}/v1`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  sqs = await startSqs(app, { visibilityTimeoutSeconds: 1 });
  client = sqsClient(sqs.environment);
  mappings = startEventSources({ app, sqs, idlePollMs: 20 });
});

afterAll(async () => {
  await mappings?.stop();
  client?.destroy();
  await sqs?.stop();
  await new Promise((done) => endpoint.close(done));
  process.env = before;
});

const event = (seq: number) => ({
  seq, prevSeq: seq - 1, id: randomUUID(), type: 'task.updated', subjectId: randomUUID(), projectId: null,
  actorId: 'user-1', occurredAt: new Date().toISOString(), payload: { title: `change ${seq}` },
});

describe('sending shards', () => {
  it('sends shards too large for one batch together: ten of 120 KB go in batches within 256 KB', async () => {
    // The integration tier's own SQS (test/support/setup.ts), where nothing consumes TaskFlow-feedFanout.
    const shards = Array.from({ length: 10 }, (_, i) => ({ id: `shard-${i}`, body: JSON.stringify({ i, padding: 'x'.repeat(120 * 1024) }), attributes: { requestId: 'r' } }));
    const result = await sendMessages('feedFanout', shards);
    expect(result.failed).toEqual([]);
    expect(result.sent.sort()).toEqual(shards.map((shard) => shard.id).sort());
    const queued = await drain({ endpoint: before.AWS_ENDPOINT_URL_SQS!, queueUrl: () => before.FEEDFANOUT_QUEUE_URL! } as unknown as LocalSqs, 'feedFanout');
    expect(queued.map((message) => bodyOf(message).i).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('the feedFanout queue', () => {
  it('posts a shard to its connections, and sends a message that is no shard to the dead-letter queue, alone', async () => {
    const organizationId = `org_${randomUUID()}`;
    const shard: FanoutShard = {
      organizationId,
      events: [event(7), event(8)],
      connections: [{ connectionId: 'a=', projectId: null }, { connectionId: 'gone-b=', projectId: null }, { connectionId: 'c=', projectId: randomUUID() }],
    };
    const tooLarge = { ...shard, connections: Array.from({ length: FANOUT_SHARD_CONNECTIONS + 1 }, (_, i) => ({ connectionId: `x${i}`, projectId: null })) };
    await client.send(new SendMessageBatchCommand({
      QueueUrl: sqs.queueUrl('feedFanout'),
      Entries: [
        { Id: 'shard', MessageBody: JSON.stringify(shard) },
        { Id: 'poison', MessageBody: JSON.stringify({ organizationId, events: [{ seq: 'one' }], connections: [] }) },
        { Id: 'oversized', MessageBody: JSON.stringify(tooLarge) },
      ],
    }));
    // Three receives a second apart (the visibility timeout here), then the DLQ.
    const dead: unknown[] = [];
    for (let i = 0; i < 100 && dead.length < 2; i += 1) dead.push(...(await drain(sqs, 'feedFanout', { deadLetter: true, quietMs: 100 })).map(bodyOf));
    expect(dead).toEqual(expect.arrayContaining([expect.objectContaining({ events: [{ seq: 'one' }] }), expect.objectContaining({ connections: tooLarge.connections })]));
    expect(dead).toHaveLength(2);
    // The shard went once, to each connection still there, in sequence order; the project subscription's chain has skips.
    expect(posted.map((post) => post.connectionId).sort()).toEqual(['a=', 'c=']);
    expect(posted.find((post) => post.connectionId === 'a=')!.frame.events.map((e: any) => e.seq)).toEqual([7, 8]);
    expect(posted.find((post) => post.connectionId === 'c=')!.frame.events).toEqual([{ seq: 7, prevSeq: 6, skipped: true }, { seq: 8, prevSeq: 7, skipped: true }]);
  });
});
