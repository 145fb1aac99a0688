// The logic behind `npm run dlq` (bin/dlq.ts): operator tooling for the declared queues' dead-letter
// queues. It only talks to SQS through an SQSClient it is given, so the same code serves AWS and the
// local runtime.
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
  type ListMessageMoveTasksResultEntry,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { queueName, type AppDeclaration } from './declaration';

/** A mistake in the command line: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the operator must act on (a missing queue, a failed move task): the CLI exits 1. */
export class OperationError extends Error {
  override readonly name = 'OperationError';
}

/** A declared queue and its dead-letter queue, by their physical (SQS) names. */
export interface QueuePair {
  /** The declared name, e.g. `notifications`. */
  name: string;
  source: string;
  deadLetter: string;
}

type Declared = Pick<AppDeclaration, 'name' | 'queues'>;

/** Every declared queue with its DLQ; `prefix` replaces the app name for a stack deployed under another name. */
export function queuePairs(app: Declared, prefix: string = app.name): QueuePair[] {
  return Object.keys(app.queues).map((name) => ({
    name,
    source: queueName(prefix, name),
    deadLetter: queueName(prefix, name, true),
  }));
}

/** One declared queue by its declared name; an unknown name is a usage error that lists the known ones. */
export function queuePair(app: Declared, name: string, prefix: string = app.name): QueuePair {
  const pair = queuePairs(app, prefix).find((candidate) => candidate.name === name);
  if (!pair) throw new UsageError(`unknown queue '${name}'; the declared queues are: ${Object.keys(app.queues).join(', ')}`);
  return pair;
}

export interface QueueState {
  queueName: string;
  url: string;
  arn: string;
  /** ApproximateNumberOfMessages: messages available for retrieval. */
  visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received by someone, not yet deleted or returned. */
  inFlight: number;
}

/** A queue's URL, ARN and approximate counts; undefined when the queue does not exist. */
export async function queueState(client: SQSClient, name: string): Promise<QueueState | undefined> {
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await client.send(new GetQueueUrlCommand({ QueueName: name })));
  } catch (error) {
    if (error instanceof QueueDoesNotExist) return undefined;
    throw error;
  }
  if (!url) return undefined;
  const { Attributes: attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    queueName: name,
    url,
    arn: attributes.QueueArn ?? '',
    visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** Like queueState, but a missing queue is an error that says what to check. */
export async function requireQueue(client: SQSClient, name: string): Promise<QueueState> {
  const state = await queueState(client, name);
  if (!state) {
    throw new OperationError(
      `queue ${name} does not exist here (wrong account or region? a stack deployed under another name needs --app NAME)`,
    );
  }
  return state;
}

export interface QueueRow {
  pair: QueuePair;
  source: QueueState | undefined;
  deadLetter: QueueState | undefined;
}

export async function listQueues(client: SQSClient, pairs: readonly QueuePair[]): Promise<QueueRow[]> {
  return Promise.all(
    pairs.map(async (pair) => {
      const [source, deadLetter] = await Promise.all([queueState(client, pair.source), queueState(client, pair.deadLetter)]);
      return { pair, source, deadLetter };
    }),
  );
}

/** The `list` table: one row per declared queue, its counts beside its DLQ's. */
export function formatQueueTable(rows: readonly QueueRow[]): string {
  const count = (state: QueueState | undefined, key: 'visible' | 'inFlight') => (state ? String(state[key]) : 'missing');
  const header = ['QUEUE', 'VISIBLE', 'IN FLIGHT', 'DLQ VISIBLE', 'DLQ IN FLIGHT', 'SQS NAMES'];
  const body = rows.map((row) => [
    row.pair.name,
    count(row.source, 'visible'),
    count(row.source, 'inFlight'),
    count(row.deadLetter, 'visible'),
    count(row.deadLetter, 'inFlight'),
    `${row.pair.source}, ${row.pair.deadLetter}`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === 0 || column === cells.length - 1 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export interface PeekedMessage {
  messageId: string;
  /** ApproximateReceiveCount, which includes the receive that peeked at it. */
  receiveCount: number | undefined;
  sentAt: string | undefined;
  firstReceivedAt: string | undefined;
  /** DeadLetterQueueSourceArn, which SQS sets when it moves a message to a DLQ. */
  deadLetterSourceArn: string | undefined;
  /** Message attributes by name: string and number values as strings, binary ones described. */
  attributes: Record<string, string>;
  /** The body parsed as JSON, or the raw string when it is not JSON. */
  body: unknown;
}

export interface PeekOptions {
  /** At most this many messages. */
  max: number;
  /**
   * How long the messages stay hidden while this look runs. It must outlast the paging (each page is a
   * receive of at most ten with a one-second long poll); it is also how long they stay hidden if this
   * process dies before it hands them back.
   */
  visibilityTimeoutSeconds: number;
}

export interface PeekResult {
  messages: PeekedMessage[];
  /** Messages whose visibility could not be reset to 0: hidden until their timeout runs out. */
  notReleased: number;
}

/**
 * Reads up to `max` messages of a queue without consuming them.
 *
 * SQS has no "peek": a receive hides a message for a visibility timeout and counts a receive. Two ways to
 * hand the messages back:
 * - receive with a short visibility timeout and let it run out: nothing more to call and nothing to go
 *   wrong, but the messages stay hidden for that long, and a redrive started meanwhile does not move them
 *   (a move task only takes visible messages), nor does a second look see them;
 * - receive with a timeout, then ChangeMessageVisibility to 0: the messages are back at once, at the cost
 *   of one more call per ten messages, and a message reset too early would be received again by the next
 *   page of this same look (so the reset waits until every page is read).
 * This does both: a timeout long enough to page through (and the bound on how long they stay hidden if
 * this process dies half-way), then a reset to 0 of everything it read. Each look still adds one to
 * every message's ApproximateReceiveCount (local-aws-sqs counts the reset as one more); on a DLQ, which
 * has no redrive policy of its own, that moves nothing anywhere.
 */
export async function peek(client: SQSClient, queueUrl: string, options: PeekOptions): Promise<PeekResult> {
  const received = new Map<string, Message>();
  const handles: string[] = [];
  let notReleased = 0;
  try {
    while (received.size < options.max) {
      const { Messages: page = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, options.max - received.size),
          VisibilityTimeout: options.visibilityTimeoutSeconds,
          // A long poll, even a short one, asks every SQS server; a short poll samples a few and can
          // answer nothing while a small queue holds messages.
          WaitTimeSeconds: 1,
          // Both spellings: AttributeNames is deprecated in favour of MessageSystemAttributeNames, but
          // local-aws-sqs reads only AttributeNames. AWS accepts either.
          MessageSystemAttributeNames: ['All'],
          AttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      let fresh = 0;
      for (const message of page) {
        if (message.ReceiptHandle) handles.push(message.ReceiptHandle);
        if (!message.MessageId || received.has(message.MessageId)) continue;
        received.set(message.MessageId, message);
        fresh++;
      }
      if (fresh === 0) break;
    }
  } finally {
    // Hand them back even when a later page failed.
    notReleased = await release(client, queueUrl, handles);
  }
  return { messages: [...received.values()].slice(0, options.max).map(describe), notReleased };
}

async function release(client: SQSClient, queueUrl: string, handles: readonly string[]): Promise<number> {
  let failed = 0;
  for (let start = 0; start < handles.length; start += 10) {
    const chunk = handles.slice(start, start + 10);
    try {
      const { Failed = [] } = await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      );
      failed += Failed.length;
    } catch {
      failed += chunk.length;
    }
  }
  return failed;
}

const isoTime = (epochMs: string | undefined) => (epochMs && Number(epochMs) > 0 ? new Date(Number(epochMs)).toISOString() : undefined);

function describe(message: Message): PeekedMessage {
  const system = message.Attributes ?? {};
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    attributes[name] = value.StringValue ?? (value.BinaryValue ? `<binary, ${value.BinaryValue.length} bytes>` : `<${value.DataType}>`);
  }
  let body: unknown = message.Body ?? '';
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    // Not JSON: shown as it is.
  }
  return {
    messageId: message.MessageId ?? '',
    receiveCount: system.ApproximateReceiveCount ? Number(system.ApproximateReceiveCount) : undefined,
    sentAt: isoTime(system.SentTimestamp),
    firstReceivedAt: isoTime(system.ApproximateFirstReceiveTimestamp),
    deadLetterSourceArn: system.DeadLetterQueueSourceArn,
    attributes,
    body,
  };
}

/** The attributes TaskFlow puts on every message, shown first. */
const TRACING_ATTRIBUTES = ['requestId', 'traceparent'];

export function formatMessage(message: PeekedMessage, index: number, total: number): string {
  const label = (name: string) => `  ${name.padEnd(20)}`;
  const lines = [`── message ${index + 1} of ${total} ${'─'.repeat(40)}`, `${label('message id')}${message.messageId}`];
  if (message.receiveCount !== undefined) lines.push(`${label('receive count')}${message.receiveCount} (this look included)`);
  if (message.sentAt) lines.push(`${label('sent')}${message.sentAt}`);
  if (message.firstReceivedAt) lines.push(`${label('first received')}${message.firstReceivedAt}`);
  if (message.deadLetterSourceArn) lines.push(`${label('dead-lettered from')}${message.deadLetterSourceArn}`);
  const names = Object.keys(message.attributes).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  lines.push(`  attributes${names.length ? '' : '          (none)'}`);
  for (const name of names) lines.push(`    ${name.padEnd(18)}${message.attributes[name]}`);
  lines.push('  body');
  const body = typeof message.body === 'string' ? message.body : JSON.stringify(message.body, null, 2);
  lines.push(...body.split('\n').map((text) => `    ${text}`));
  return lines.join('\n');
}

const rank = (name: string) => {
  const position = TRACING_ATTRIBUTES.indexOf(name);
  return position === -1 ? TRACING_ATTRIBUTES.length : position;
};

export type MoveTask = ListMessageMoveTasksResultEntry;

export interface RedriveOptions {
  /** The DLQ's ARN. */
  sourceArn: string;
  /** The source queue's ARN: where the messages go back to. */
  destinationArn: string;
  /** MaxNumberOfMessagesPerSecond (1–500); unset lets SQS go as fast as it likes. */
  maxPerSecond?: number;
  /** How often to ask ListMessageMoveTasks. */
  pollMs?: number;
  /** Called with the task's state after each poll. */
  onProgress?: (task: MoveTask) => void;
  /** Called once the task has started, with its handle (to cancel it). */
  onStarted?: (taskHandle: string) => void;
}

/**
 * StartMessageMoveTask from a DLQ back to its source queue, then ListMessageMoveTasks until the task is
 * no longer running. Returns the task's last state; the caller decides what COMPLETED/FAILED/CANCELLED mean.
 */
export async function redrive(client: SQSClient, options: RedriveOptions): Promise<MoveTask> {
  const { TaskHandle: handle } = await client.send(
    new StartMessageMoveTaskCommand({
      SourceArn: options.sourceArn,
      DestinationArn: options.destinationArn,
      ...(options.maxPerSecond ? { MaxNumberOfMessagesPerSecond: options.maxPerSecond } : {}),
    }),
  );
  if (!handle) throw new OperationError('StartMessageMoveTask answered without a task handle');
  options.onStarted?.(handle);
  // A task lists its handle only while it runs, so once seen it is followed by its start time. A task that
  // finished before the first poll is the newest one: a source queue has at most one running task, and
  // ListMessageMoveTasks lists the most recent first.
  let startedAt: number | undefined;
  for (let poll = 0; ; poll++) {
    if (poll > 0) await new Promise((wake) => setTimeout(wake, options.pollMs ?? 2000));
    const { Results: tasks = [] } = await client.send(new ListMessageMoveTasksCommand({ SourceArn: options.sourceArn, MaxResults: 10 }));
    const task =
      tasks.find((candidate) => candidate.TaskHandle === handle) ??
      (startedAt !== undefined
        ? tasks.find((candidate) => candidate.StartedTimestamp === startedAt)
        : tasks.find((candidate) => candidate.DestinationArn === options.destinationArn));
    if (!task) throw new OperationError(`the move task ${handle} is not among the DLQ's recent move tasks`);
    startedAt ??= task.StartedTimestamp;
    options.onProgress?.(task);
    if (task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') return task;
  }
}

export function formatProgress(task: MoveTask): string {
  const toMove = task.ApproximateNumberOfMessagesToMove;
  const moved = `${task.ApproximateNumberOfMessagesMoved ?? 0}${toMove !== undefined ? ` of ~${toMove}` : ''}`;
  return `${(task.Status ?? 'UNKNOWN').padEnd(10)} moved ${moved}${task.FailureReason ? ` (${task.FailureReason})` : ''}`;
}
