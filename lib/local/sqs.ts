import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { CreateQueueCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import { queueUrlVariable } from '../../functions/shared/resource-variables';
import { outboxRoutes, queueName, visibilityTimeoutSeconds, type AppDeclaration } from '../declaration';

export interface LocalSqs {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /**
   * What the handlers need: AWS_ENDPOINT_URL_SQS, AWS_REGION, AWS_ACCESS_KEY_ID/SECRET (dummy if unset),
   * <NAME>_QUEUE_URL per declared queue (queueUrlVariable), OUTBOX_ROUTES (JSON.stringify(outboxRoutes(app.queues))),
   * QUEUE_STATUS (every queue's and dead-letter queue's URL, for the integrations' health).
   */
  environment: Record<string, string>;
  queueUrl(name: string, deadLetter?: boolean): string;
  /**
   * Fault injection for tests and demos: failSends → SendMessage/SendMessageBatch answer HTTP 500
   * (InternalError, JSON protocol error shape) without enqueuing; duplicateSends → every SendMessage(Batch)
   * is applied twice (SQS's at-least-once delivery, made certain); sendLatencyMs → every send is answered
   * that much later (a slow SQS).
   */
  faults: { failSends: boolean; duplicateSends: boolean; sendLatencyMs: number };
  stop(): Promise<void>;
}

export interface SqsOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * Overrides every queue's visibility timeout. Only so tests need not wait minutes for a redelivery
   * (the declared one is six times the consumer's timeout); the local runtime keeps the declared one.
   */
  visibilityTimeoutSeconds?: number;
}

/** The account the local ARNs and queue URLs name, as in the local Lambda contexts. */
export const LOCAL_ACCOUNT_ID = '000000000000';

const SEND_ACTIONS = new Set(['SendMessage', 'SendMessageBatch']);

/**
 * SQS for the local runtime and the tests: local-aws-sqs (in memory) on 127.0.0.1, with every declared queue
 * and its dead-letter queue created as the CDK stack creates them (visibility timeout, RedrivePolicy,
 * RedriveAllowPolicy), behind a thin HTTP layer that can fail or duplicate sends on demand.
 * Handlers reach it through AWS_ENDPOINT_URL_SQS and unmodified SDK clients.
 */
export async function startSqs(app: Pick<AppDeclaration, 'name' | 'queues'>, options: SqsOptions = {}): Promise<LocalSqs> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const { service, requestHandler } = createRequestHandler({
    port: options.port ?? 0,
    hostname: '127.0.0.1',
    region,
    accountId: LOCAL_ACCOUNT_ID,
    emulateQueueCreationLifecycle: false,
  });
  const faults = { failSends: false, duplicateSends: false, sendLatencyMs: 0 };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sqsError(res, isJson(req), 500, 'InternalError', (error as Error).message ?? String(error));
      else res.destroy();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const json = isJson(req);
    const action = json
      ? String(req.headers['x-amz-target'] ?? '').split('.')[1]
      : new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
    if (action && SEND_ACTIONS.has(action)) {
      if (faults.sendLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.sendLatencyMs));
      if (faults.failSends) return sqsError(res, json, 500, 'InternalError', 'We encountered an internal error. Please try again.');
      // The first copy's answer is thrown away; the sender sees the second's.
      if (faults.duplicateSends) await requestHandler(replay(req, body), discardingResponse());
    }
    await requestHandler(replay(req, body), res);
  }

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      done();
    });
  });
  const port = (server.address() as { port: number }).port;
  // Queue URLs are built from this, so set it once the port is known.
  service.PORT = port;
  const endpoint = `http://127.0.0.1:${port}`;
  const queueUrl = (name: string, deadLetter = false) => {
    if (!(name in app.queues)) throw new Error(`No queue named ${name} is declared`);
    return `${endpoint}/${LOCAL_ACCOUNT_ID}/${queueName(app.name, name, deadLetter)}`;
  };
  const arn = (name: string, deadLetter = false) => `arn:aws:sqs:${region}:${LOCAL_ACCOUNT_ID}:${queueName(app.name, name, deadLetter)}`;

  const environment: Record<string, string> = {
    AWS_ENDPOINT_URL_SQS: endpoint,
    AWS_REGION: region,
    // local-aws-sqs checks no signature; the signer still wants credentials.
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    OUTBOX_ROUTES: JSON.stringify(outboxRoutes(app.queues)),
  };
  const client = sqsClient(environment);
  try {
    for (const [name, queue] of Object.entries(app.queues)) {
      const visibility = String(options.visibilityTimeoutSeconds ?? visibilityTimeoutSeconds(queue));
      await client.send(new CreateQueueCommand({ QueueName: queueName(app.name, name, true), Attributes: { VisibilityTimeout: visibility } }));
      await client.send(
        new CreateQueueCommand({
          QueueName: queueName(app.name, name),
          Attributes: {
            VisibilityTimeout: visibility,
            RedrivePolicy: JSON.stringify({ maxReceiveCount: queue.maxReceiveCount, deadLetterTargetArn: arn(name, true) }),
          },
        }),
      );
      // Only its own source queue may use the dead-letter queue (and redrive back to it).
      await client.send(
        new SetQueueAttributesCommand({
          QueueUrl: queueUrl(name, true),
          Attributes: { RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [arn(name)] }) },
        }),
      );
      environment[queueUrlVariable(name)] = queueUrl(name);
    }
    environment.QUEUE_STATUS = JSON.stringify(
      Object.fromEntries(
        Object.entries(app.queues).map(([name, queue]) => [name, { url: queueUrl(name), deadLetterUrl: queueUrl(name, true), integration: queue.integration ?? null }]),
      ),
    );
  } catch (error) {
    await closeServer();
    throw error;
  } finally {
    client.destroy();
  }

  async function closeServer(): Promise<void> {
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    service.resetAll();
  }

  return { endpoint, environment, queueUrl, faults, stop: closeServer };
}

/** An SQS client for `environment` (a LocalSqs's), as the handlers make theirs. */
export function sqsClient(environment: Record<string, string>): SQSClient {
  return new SQSClient({
    endpoint: environment.AWS_ENDPOINT_URL_SQS!,
    region: environment.AWS_REGION!,
    credentials: { accessKeyId: environment.AWS_ACCESS_KEY_ID!, secretAccessKey: environment.AWS_SECRET_ACCESS_KEY! },
  });
}

const isJson = (req: IncomingMessage) => String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.0');

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The request again, from its buffered body: local-aws-sqs reads only the headers and the body stream. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = Readable.from(body.length ? [body] : []) as unknown as IncomingMessage;
  Object.assign(copy, { headers: req.headers, method: req.method, url: req.url, socket: req.socket });
  return copy;
}

/** A response sink for the first copy of a duplicated send. */
function discardingResponse(): ServerResponse {
  const headers = new Map<string, unknown>();
  return {
    statusCode: 200,
    headersSent: false,
    setHeader: (name: string, value: unknown) => void headers.set(name.toLowerCase(), value),
    getHeader: (name: string) => headers.get(name.toLowerCase()),
    writeHead: () => undefined,
    write: () => true,
    end: () => undefined,
  } as unknown as ServerResponse;
}

/** An SQS error in the protocol the client spoke (JSON: `__type` + x-amzn-query-error; query: XML). */
function sqsError(res: ServerResponse, json: boolean, status: number, code: string, message: string): void {
  const requestId = randomUUID();
  const fault = status >= 500 ? 'Receiver' : 'Sender';
  const body = json
    ? JSON.stringify({ __type: code, message })
    : `<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>${fault}</Type>` +
      `<Code>${code}</Code><Message>${message}</Message><Detail/></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  res.writeHead(status, {
    'Content-Type': json ? 'application/x-amz-json-1.0' : 'text/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
    ...(json ? { 'x-amzn-query-error': `${code};${fault}` } : {}),
  });
  res.end(body);
}
