import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { startLocalRuntime } from '../../lib/local/runtime';
import { type LocalSqs, sqsClient, startSqs } from '../../lib/local/sqs';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run dlq -- ...` as an operator runs it: a child process, with only the environment given here. */
function dlq(args: string[], env: Record<string, string>): Promise<Run> {
  // Nothing of the test process's AWS settings leaks in (its dynalite endpoint, region, credentials).
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  // Async, not spawnSync: the SQS server it talks to runs in this process.
  const child = spawn(tsx, ['bin/dlq.ts', ...args], { cwd: root, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (run.stdout += chunk));
  child.stderr.on('data', (chunk) => (run.stderr += chunk));
  return new Promise((done) => child.on('close', (code) => done({ ...run, code })));
}

async function counts(client: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes: attributes = {} } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(attributes.ApproximateNumberOfMessages), inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible) };
}

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

const requestId = 'req-dlq-cli-0001';
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const body = { id: 'evt-0001', type: 'task.created', organizationId: 'org_dlq', data: { taskId: 'task-1', title: 'Poison' } };

// The operator CLI against a real local SQS (the local runtime's, with the declared queues and DLQs):
// a message that failed maxReceiveCount times sits in the notifications DLQ, and the CLI lists, shows and
// redrives it.
describe('npm run dlq', { timeout: 60_000 }, () => {
  let sqs: LocalSqs;
  let client: SQSClient;
  let viaEndpoint: Record<string, string>;
  let viaLocal: Record<string, string>;

  beforeAll(async () => {
    sqs = await startSqs(taskflow);
    client = sqsClient(sqs.environment);
    // Two ways to reach it: the SDK's own AWS_ENDPOINT_URL_SQS (the default AWS path), and --local.
    viaEndpoint = {
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    viaLocal = { SQS_PORT: new URL(sqs.endpoint).port };

    // A poison message: received maxReceiveCount times and never deleted, so SQS moves it to the DLQ.
    const source = sqs.queueUrl('notifications');
    await client.send(
      new SendMessageCommand({
        QueueUrl: source,
        MessageBody: JSON.stringify(body),
        MessageAttributes: {
          requestId: { DataType: 'String', StringValue: requestId },
          traceparent: { DataType: 'String', StringValue: traceparent },
        },
      }),
    );
    const deadLetter = sqs.queueUrl('notifications', true);
    for (let receive = 0; receive < taskflow.queues.notifications.maxReceiveCount; receive++) {
      await until(
        () => client.send(new ReceiveMessageCommand({ QueueUrl: source, VisibilityTimeout: 0, WaitTimeSeconds: 1 })),
        (answer) => (answer.Messages?.length ?? 0) === 1,
        `receive ${receive + 1}`,
      );
    }
    await until(() => counts(client, deadLetter), (state) => state.visible === 1 && state.inFlight === 0, 'the message in the DLQ');
    expect(await counts(client, source)).toEqual({ visible: 0, inFlight: 0 });
  });

  afterAll(async () => {
    client?.destroy();
    await sqs?.stop();
  });

  it('list: counts the message in the notifications DLQ', async () => {
    const run = await dlq(['list'], viaEndpoint);
    expect(run.stderr).not.toMatch(/^dlq:/m);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^QUEUE\s+VISIBLE\s+IN FLIGHT\s+DLQ VISIBLE\s+DLQ IN FLIGHT/m);
    expect(run.stdout).toMatch(/^notifications\s+0\s+0\s+1\s+0\s+TaskFlow-notifications, TaskFlow-notifications-dlq$/m);
    expect(run.stdout).toMatch(/^slack\s+0\s+0\s+0\s+0\s/m);
    expect(run.stdout).toMatch(/^email\s+0\s+0\s+0\s+0\s/m);
    expect(run.stdout).toContain('npm run dlq -- show notifications');

    const json = await dlq(['list', '--json', '--local'], viaLocal);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as { name: string; deadLetterState: { visible: number } }[];
    // Every declared queue, in the declaration's order; only the notifications DLQ holds a message.
    expect(rows.map((row) => [row.name, row.deadLetterState.visible])).toEqual(
      Object.keys(taskflow.queues).map((name) => [name, name === 'notifications' ? 1 : 0]),
    );
  });

  it('show: prints the body and the correlation attributes, and leaves the message in the DLQ', async () => {
    const run = await dlq(['show', 'notifications', '--local'], viaLocal);
    expect(run.stderr).not.toMatch(/^(dlq|warning):/m);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('TaskFlow-notifications-dlq: 1 message(s) read');
    expect(run.stdout).toMatch(new RegExp(`requestId\\s+${requestId}`));
    expect(run.stdout).toMatch(new RegExp(`traceparent\\s+${traceparent}`));
    expect(run.stdout).toMatch(/dead-lettered from\s+arn:aws:sqs:[\w-]+:\d+:TaskFlow-notifications$/m);
    expect(run.stdout).toMatch(/receive count\s+\d+/);
    // The body, pretty-printed.
    for (const line of JSON.stringify(body, null, 2).split('\n')) expect(run.stdout).toContain(`    ${line}\n`);
    // Handed back at once, not hidden for a visibility timeout.
    expect(await counts(client, sqs.queueUrl('notifications', true))).toEqual({ visible: 1, inFlight: 0 });

    const json = await dlq(['show', 'notifications', '--json', '--max', '5'], viaEndpoint);
    expect(json.code).toBe(0);
    const [message, ...others] = JSON.parse(json.stdout) as { attributes: Record<string, string>; body: unknown }[];
    expect(others).toEqual([]);
    expect(message!.attributes).toEqual({ requestId, traceparent });
    expect(message!.body).toEqual(body);
    expect(await counts(client, sqs.queueUrl('notifications', true))).toEqual({ visible: 1, inFlight: 0 });
  });

  it('redrive: moves the message back to its source queue and empties the DLQ', async () => {
    const run = await dlq(['redrive', 'notifications'], viaEndpoint);
    expect(run.stderr).not.toMatch(/^dlq:/m);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Redriving TaskFlow-notifications-dlq → TaskFlow-notifications');
    expect(run.stdout).toMatch(/^COMPLETED\s+moved 1 of ~1$/m);
    expect(run.stdout).toContain('TaskFlow-notifications-dlq now holds about 0 visible, 0 in flight');

    expect(await counts(client, sqs.queueUrl('notifications', true))).toEqual({ visible: 0, inFlight: 0 });
    const { Messages: messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('notifications'), WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    expect(messages).toHaveLength(1);
    expect(JSON.parse(messages[0]!.Body!)).toEqual(body);
    expect(messages[0]!.MessageAttributes?.requestId?.StringValue).toBe(requestId);
    expect(messages[0]!.MessageAttributes?.traceparent?.StringValue).toBe(traceparent);

    // Nothing left: says so and succeeds.
    const again = await dlq(['redrive', 'notifications', '--local'], viaLocal);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('TaskFlow-notifications-dlq is empty: nothing to redrive.');
  });

  it('refuses an unknown queue, an unknown command or a missing argument with the usage and exit code 2', async () => {
    const runs = await Promise.all([
      dlq(['show', 'nope', '--local'], viaLocal),
      dlq(['redrive', 'nope'], viaEndpoint),
      dlq(['purge', 'notifications'], viaEndpoint),
      dlq(['show'], viaEndpoint),
      dlq([], viaEndpoint),
      dlq(['show', 'notifications', '--max', 'many'], viaEndpoint),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('Usage: npm run dlq -- <command> [options]');
      expect(run.stdout).toBe('');
    }
    expect(runs[0]!.stderr).toContain("dlq: unknown queue 'nope'; the declared queues are: notifications, slack, email");
    expect(runs[2]!.stderr).toContain("dlq: unknown command 'purge'");
    expect(runs[3]!.stderr).toContain('dlq: show needs a QUEUE');
  });

  it('redrive: exits 1 when the move task fails (its destination queue vanished under it)', async () => {
    // Another stack's queues (--app), so the shared ones are left alone.
    const other = await startSqs({ name: 'Doomed', queues: taskflow.queues });
    const otherClient = sqsClient(other.environment);
    try {
      await otherClient.send(new SendMessageCommand({ QueueUrl: other.queueUrl('email', true), MessageBody: '{"id":"mail-1"}' }));
      const env = { ...viaEndpoint, AWS_ENDPOINT_URL_SQS: other.endpoint };
      const running = dlq(['redrive', 'email', '--app', 'Doomed'], env);
      // The task moves its first batch a second after it starts: delete the destination before that.
      const { QueueArn: dlqArn } = (
        await otherClient.send(new GetQueueAttributesCommand({ QueueUrl: other.queueUrl('email', true), AttributeNames: ['QueueArn'] }))
      ).Attributes!;
      await until(
        () => otherClient.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn })),
        (answer) => answer.Results?.[0]?.Status === 'RUNNING',
        'the move task',
      );
      await otherClient.send(new DeleteQueueCommand({ QueueUrl: other.queueUrl('email') }));
      const run = await running;
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^FAILED\s+moved 0 of ~1 \(AWS\.SimpleQueueService\.NonExistentQueue\)$/m);
      expect(run.stderr).toContain('dlq: the move task ended FAILED: AWS.SimpleQueueService.NonExistentQueue');
    } finally {
      otherClient.destroy();
      await other.stop();
    }
  });

  it('--local finds the running local runtime by itself (its data folder records its endpoints), whatever port its SQS got', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-dlq-'));
    // As a developer's shell has it after `SQS_PORT=0 npm start`: the port is any free one.
    const env = { TASKFLOW_DATA_DIR: dataDir, SQS_PORT: '0' };
    try {
      const runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false });
      try {
        const run = await dlq(['list', '--local'], env);
        expect(run.stderr).not.toMatch(/^dlq:/m);
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(/^notifications\s+0\s+0\s+0\s+0\s+TaskFlow-notifications, TaskFlow-notifications-dlq$/m);
        // Without --local, AWS is not configured here: it says so, and that --local reaches the runtime.
        const aws = await dlq(['list'], { ...env, AWS_EC2_METADATA_DISABLED: 'true' });
        expect(aws.code).toBe(1);
        expect(aws.stderr).toContain('No AWS region: set AWS_REGION');
        expect(aws.stderr).toContain(`A local runtime is running (SQS ${runtime.sqs.endpoint}): for its queues, add --local.`);
      } finally {
        await runtime.stop();
      }
      const stopped = await dlq(['list', '--local'], env);
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toContain(`dlq: no local runtime is running on ${dataDir}`);
      expect(stopped.stderr).toContain('start it with npm start');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('prints no AWS SDK NodeVersionSupportWarning (local tooling on the Node 20 package.json allows)', async () => {
    const run = await dlq(['list'], viaEndpoint);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('NodeVersionSupportWarning');
  });

  it('says what to set when AWS has no credentials here, and that --local is for the local runtime', async () => {
    const run = await dlq(['list'], { AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('No AWS credentials: set AWS_PROFILE');
    expect(run.stderr).toContain('For the local runtime (npm start), add --local.');
  });

  it('exits 1 with the reason when SQS says no (queues of a stack name that does not exist)', async () => {
    const run = await dlq(['show', 'notifications', '--app', 'Elsewhere'], viaEndpoint);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('dlq: queue Elsewhere-notifications-dlq does not exist here');
    expect(run.stderr).not.toContain('Usage:');
  });
});
