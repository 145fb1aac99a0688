// `npm run dlq -- list | show QUEUE | redrive QUEUE [--local] [--app NAME] ...`: look at and redrive the
// dead-letter queues of the declared queues. The runbook is docs/runbooks/dlq-redrive.md.
// Exit codes: 0 done, 1 an AWS error or a failed move task, 2 a usage error.
import './quiet-sdk-node-warning';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { taskflow } from '../lib/app';
import { endpointsFile, runningEndpoints } from '../lib/local/endpoints';
import {
  OperationError,
  UsageError,
  formatMessage,
  formatProgress,
  formatQueueTable,
  listQueues,
  peek,
  queuePair,
  queuePairs,
  redrive,
  requireQueue,
} from '../lib/dlq';

const USAGE = `Usage: npm run dlq -- <command> [options]

Commands:
  list             Each declared queue's and its DLQ's approximate visible / in-flight counts
  show QUEUE       Print the DLQ's messages without consuming them (they are handed back at once)
  redrive QUEUE    Move the DLQ's messages back to QUEUE (StartMessageMoveTask) and follow the task

QUEUE is a declared queue name: ${Object.keys(taskflow.queues).join(', ')}

Options:
  --local                The local runtime's SQS instead of AWS: the running npm start's (it records its endpoints in
                         $TASKFLOW_DATA_DIR/endpoints.json, default ./.taskflow), or http://127.0.0.1:$SQS_PORT
  --app NAME             Queue-name prefix, for a stack deployed under another name (default ${taskflow.name})
  --max N                show: at most N messages (default 10)
  --visibility SECONDS   show: how long messages stay hidden while being read (default 30)
  --rate N               redrive: at most N messages per second (1-500; default: as fast as SQS goes)
  --json                 list, show: JSON instead of text
  -h, --help             This help

AWS: the SDK's default credential and region chain (AWS_PROFILE, AWS_REGION, ...); AWS_ENDPOINT_URL_SQS is honoured.`;

interface Options {
  local: boolean;
  app: string;
  max: number;
  visibility: number;
  rate: number | undefined;
  json: boolean;
}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  return value;
}

function parse(argv: string[]): { command: string | undefined; queue: string | undefined; help: boolean; options: Options } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        local: { type: 'boolean', default: false },
        app: { type: 'string' },
        max: { type: 'string' },
        visibility: { type: 'string' },
        rate: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}'`);
  if (values.app !== undefined && !/^[\w-]+$/.test(values.app)) throw new UsageError('--app must be a queue-name prefix (letters, digits, - and _)');
  return {
    command: positionals[0],
    queue: positionals[1],
    help: values.help,
    options: {
      local: values.local,
      app: values.app ?? taskflow.name,
      max: integer('max', values.max, 1, 1000) ?? 10,
      visibility: integer('visibility', values.visibility, 1, 43_200) ?? 30,
      rate: integer('rate', values.rate, 1, 500),
      json: values.json,
    },
  };
}

async function client(local: boolean): Promise<SQSClient> {
  if (!local) return new SQSClient({});
  // The local runtime's SQS (local-aws-sqs) checks no signature; the signer still wants credentials.
  return new SQSClient({ endpoint: await localSqs(), region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
}

const dataDir = () => resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow');

/** The local SQS: the port SQS_PORT names (0, any free one, names none), else the running runtime's own. */
async function localSqs(): Promise<string> {
  const port = process.env.SQS_PORT;
  if (port !== undefined && port !== '0') return `http://127.0.0.1:${port}`;
  const running = await runningEndpoints(dataDir());
  if (!running) {
    throw new OperationError(
      `no local runtime is running on ${dataDir()} (it records its endpoints in ${endpointsFile(dataDir())} while it runs): ` +
        'start it with npm start (with the same TASKFLOW_DATA_DIR), or set SQS_PORT to its SQS port',
    );
  }
  return running.sqs;
}

/** What to do about an error that says AWS is not configured here. */
async function awsHint(error: Error): Promise<string | undefined> {
  const missing = /region is missing/i.test(error.message) ? 'region' : error.name === 'CredentialsProviderError' ? 'credentials' : undefined;
  if (!missing) return undefined;
  const local = await runningEndpoints(dataDir());
  return [
    missing === 'region' ? 'No AWS region: set AWS_REGION (or AWS_PROFILE with a region).' : 'No AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).',
    local ? `A local runtime is running (SQS ${local.sqs}): for its queues, add --local.` : 'For the local runtime (npm start), add --local.',
  ].join('\n');
}

async function list(sqs: SQSClient, options: Options): Promise<number> {
  const rows = await listQueues(sqs, queuePairs(taskflow, options.app));
  if (options.json) {
    console.log(JSON.stringify(rows.map(({ pair, source, deadLetter }) => ({ ...pair, sourceState: source ?? null, deadLetterState: deadLetter ?? null })), null, 2));
  } else {
    console.log(formatQueueTable(rows));
    const waiting = rows.filter((row) => (row.deadLetter?.visible ?? 0) + (row.deadLetter?.inFlight ?? 0) > 0);
    for (const row of waiting) {
      console.log(`\n${row.pair.name}: its DLQ holds messages. Look: npm run dlq -- show ${row.pair.name}; after fixing the cause: npm run dlq -- redrive ${row.pair.name}`);
    }
    if (waiting.length) console.log('Runbook: docs/runbooks/dlq-redrive.md');
  }
  const missing = rows.flatMap((row) => [row.source ? [] : [row.pair.source], row.deadLetter ? [] : [row.pair.deadLetter]].flat());
  if (missing.length) {
    console.error(`\nMissing queues: ${missing.join(', ')} (wrong account or region? a stack deployed under another name needs --app NAME)`);
    return 1;
  }
  return 0;
}

async function show(sqs: SQSClient, name: string, options: Options): Promise<number> {
  const pair = queuePair(taskflow, name, options.app);
  const dlq = await requireQueue(sqs, pair.deadLetter);
  const { messages, notReleased } = await peek(sqs, dlq.url, { max: options.max, visibilityTimeoutSeconds: options.visibility });
  if (options.json) {
    console.log(JSON.stringify(messages, null, 2));
  } else {
    console.log(`${pair.deadLetter}: ${messages.length} message(s) read (about ${dlq.visible} visible, ${dlq.inFlight} in flight before this look)`);
    messages.forEach((message, index) => console.log(`\n${formatMessage(message, index, messages.length)}`));
    if (messages.length) console.log(`\nAll handed back to ${pair.deadLetter}. Find the cause from the requestId (docs/runbooks/dlq-redrive.md), then: npm run dlq -- redrive ${pair.name}`);
  }
  if (notReleased) {
    console.error(`warning: ${notReleased} message(s) could not be handed back; they reappear within ${options.visibility} s`);
  }
  return 0;
}

async function redriveQueue(sqs: SQSClient, name: string, options: Options): Promise<number> {
  const pair = queuePair(taskflow, name, options.app);
  const [source, dlq] = await Promise.all([requireQueue(sqs, pair.source), requireQueue(sqs, pair.deadLetter)]);
  if (dlq.visible === 0 && dlq.inFlight === 0) {
    console.log(`${pair.deadLetter} is empty: nothing to redrive.`);
    return 0;
  }
  if (dlq.inFlight > 0) {
    console.log(`note: ${dlq.inFlight} message(s) of ${pair.deadLetter} are in flight (someone is reading them); a move task only moves visible ones.`);
  }
  console.log(`Redriving ${pair.deadLetter} → ${pair.source} (about ${dlq.visible} message(s)${options.rate ? `, at most ${options.rate}/s` : ''})`);
  let handle: string | undefined;
  const interrupted = () => {
    console.error(`\nStopped following. The move task keeps running in SQS; to cancel it:\n  aws sqs cancel-message-move-task --task-handle ${handle ?? '(not started)'}`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  let last = '';
  const task = await redrive(sqs, {
    sourceArn: dlq.arn,
    destinationArn: source.arn,
    ...(options.rate ? { maxPerSecond: options.rate } : {}),
    onStarted: (taskHandle) => (handle = taskHandle),
    onProgress: (state) => {
      const line = formatProgress(state);
      if (line !== last) console.log(line);
      last = line;
    },
  });
  process.off('SIGINT', interrupted);
  if (task.Status !== 'COMPLETED') {
    throw new OperationError(`the move task ended ${task.Status}${task.FailureReason ? `: ${task.FailureReason}` : ''}`);
  }
  const after = await requireQueue(sqs, pair.deadLetter);
  console.log(`Done: ${pair.deadLetter} now holds about ${after.visible} visible, ${after.inFlight} in flight.`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let sqs: SQSClient | undefined;
  try {
    const { command, queue, help, options } = parse(argv);
    if (help) {
      console.log(USAGE);
      return 0;
    }
    if (!command) throw new UsageError('missing command');
    if (!['list', 'show', 'redrive'].includes(command)) throw new UsageError(`unknown command '${command}'`);
    if (command === 'list' && queue !== undefined) throw new UsageError(`list takes no QUEUE (got '${queue}')`);
    if (command !== 'list') {
      if (queue === undefined) throw new UsageError(`${command} needs a QUEUE`);
      queuePair(taskflow, queue, options.app); // an unknown name is a usage error before any call
    }
    sqs = await client(options.local);
    if (command === 'list') return await list(sqs, options);
    if (command === 'show') return await show(sqs, queue!, options);
    return await redriveQueue(sqs, queue!, options);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`dlq: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    const { name, message } = error as Error;
    console.error(`dlq: ${error instanceof OperationError ? message : `${name}: ${message}`}`);
    const hint = await awsHint(error as Error);
    if (hint) console.error(hint);
    if (/ECONNREFUSED/.test(message) && argv.includes('--local')) console.error('Is the local runtime (npm start) running? Its SQS port is SQS_PORT, or what it recorded in its endpoints.json.');
    return 1;
  } finally {
    sqs?.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
