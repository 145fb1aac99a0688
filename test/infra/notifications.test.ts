import { App, type CfnResource, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import type { Capability } from '../../lib/declaration';
import { Credentials } from '../../lib/constructs/credentials';
import { Database } from '../../lib/constructs/database';
import { TaskFlowFunction } from '../../lib/constructs/function';
import { Network } from '../../lib/constructs/network';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { aliasQualifier, liveAliasId, logicalId, namesAlias, type Resource, resourcesOfType, routeFunctions, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// The outbox pipeline as an operator meets it: queues with their dead-letter queues and alarms, the
// consumers, the relay schedule and its alarms, what each function is given to send and notify, and the
// topic every alarm notifies.

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type QueueName = keyof typeof taskflow.queues;

let template: Template;
let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ template, stacks, resources } = synthesizeTaskFlow());
}, SYNTH_TIMEOUT_MS);

const queueNames = Object.keys(taskflow.queues) as QueueName[];
const ofType = (type: string) => resourcesOfType(resources, type);
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const propsOf = (construct: IConstruct) => resources[logicalId(construct)]!.Properties;
const envOf = (construct: IConstruct) => propsOf(construct).Environment.Variables as Record<string, unknown>;
/** Every IAM statement granted to a function's role. */
const statementsOf = (fn: IConstruct): Statement[] => {
  const role = propsOf(fn).Role['Fn::GetAtt'][0];
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
};
const actionsOn = (fn: IConstruct, resourceId: string) =>
  statementsOf(fn)
    .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(`"${resourceId}"`))
    .flatMap((s) => s.Action);
/** The extension layer's ARNs (one per region) a function uses, through the region mapping CDK writes. */
const extensionLayerArns = (fn: IConstruct): string[] => {
  const layers = propsOf(fn).Layers as { 'Fn::FindInMap': [string, unknown, string] }[];
  expect(layers).toHaveLength(1);
  const [mapName, , key] = layers[0]!['Fn::FindInMap'];
  return Object.values(template.toJSON().Mappings[mapName] as Record<string, Record<string, string>>).map((r) => r[key]!);
};
/** An ARN as deployed in eu-west-1 of account 123456789012 (resolves Fn::Join of pseudo parameters). */
const resolveArn = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '123456789012' };
  const { 'Fn::Join': join, Ref } = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string };
  if (Ref && pseudo[Ref]) return pseudo[Ref];
  if (join) return join[1].map(resolveArn).join(join[0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
};

const mutations = taskflow.routes.filter((route) => route.method !== 'GET');
const reads = taskflow.routes.filter((route) => route.method === 'GET');

/** Every TaskFlow function of the stack, by a readable name. */
const allFunctions = (): [string, TaskFlowFunction][] => [
  ...[...routeFunctions(stacks)].map(([operationId, fn]): [string, TaskFlowFunction] => [operationId, fn]),
  ...[...stacks.feed.webSocket.routeFunctions].map(([route, fn]): [string, TaskFlowFunction] => [`WebSocket ${route}`, fn]),
  ['authorizer', stacks.api.authorizerFunction],
  ['migrate', stacks.schema.migrations.function],
  ...queueNames.map((name): [string, TaskFlowFunction] => [`${name} consumer`, stacks.workers.consumers.consumers[name]]),
  ...Object.entries(stacks.workers.schedules.functions).map(([name, fn]): [string, TaskFlowFunction] => [name, fn]),
];
/** What the template gives a function: the queues whose URL it has, and those it may send to. */
const queueUrlsOf = (fn: IConstruct) => queueNames.filter((name) => envOf(fn)[`${name.toUpperCase()}_QUEUE_URL`] !== undefined).sort();
const sendableBy = (fn: IConstruct) =>
  queueNames.filter((name) => actionsOn(fn, logicalId(stacks.data.queues.queues[name])).includes('sqs:SendMessage')).sort();

describe('queues', () => {
  it.each(queueNames)('%s: named TaskFlow-<queue>, moved to its own dead-letter queue after its declared receives', (name) => {
    const queue = propsOf(stacks.data.queues.queues[name]);
    const deadLetterId = logicalId(stacks.data.queues.deadLetterQueues[name]);
    expect(queue.QueueName).toBe(`TaskFlow-${name}`);
    // 3; 10 for the integrations' queues, whose refusals while a breaker is open are receives too, and for deletions,
    // where a large project takes several receives; 5 for sync results.
    const receives = ['slack', 'email', 'github', 'googleCalendar', 'deletions'].includes(name) ? 10 : name === 'syncResults' ? 5 : 3;
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: arnOf(deadLetterId), maxReceiveCount: receives });
    expect(queue.MessageRetentionPeriod).toBe(4 * 24 * 3600);
    const deadLetter = resources[deadLetterId]!.Properties;
    expect(deadLetter.QueueName).toBe(`TaskFlow-${name}-dlq`);
    expect(deadLetter.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(deadLetter.RedrivePolicy).toBeUndefined();
  });

  it.each(queueNames)('%s: its dead-letter queue accepts messages from that queue only (redrive-allow by queue)', (name) => {
    const { RedriveAllowPolicy } = propsOf(stacks.data.queues.deadLetterQueues[name]);
    expect(RedriveAllowPolicy.redrivePermission).toBe('byQueue');
    expect(RedriveAllowPolicy.sourceQueueArns.map(resolveArn)).toEqual([`arn:aws:sqs:eu-west-1:123456789012:TaskFlow-${name}`]);
  });

  it('gives every queue and dead-letter queue SQS-managed encryption and refuses plain HTTP', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(2 * queueNames.length);
    const policies = ofType('AWS::SQS::QueuePolicy').map(([, p]) => p.Properties);
    for (const [id, queue] of queues) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const policy = policies.find((p) => p.Queues.some((q: { Ref: string }) => q.Ref === id));
      expect(policy?.PolicyDocument.Statement, id).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it.each(queueNames)('%s: hides a received message for 6 times its consumer\'s timeout', (name) => {
    const timeout = propsOf(stacks.workers.consumers.consumers[name]).Timeout as number;
    expect(timeout).toBe(taskflow.queues[name].consumer.timeoutSeconds);
    expect(propsOf(stacks.data.queues.queues[name]).VisibilityTimeout).toBe(6 * timeout);
  });

  it.each(queueNames)('%s: alarms as soon as its dead-letter queue holds a message', (name) => {
    const alarm = propsOf(stacks.operations.deadLetters.alarms[name]);
    expect(alarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stacks.data.queues.deadLetterQueues[name]), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
    expect(alarm.AlarmDescription).toContain(`TaskFlow-${name}-dlq`);
  });

  it('outputs each queue\'s and dead-letter queue\'s URL', () => {
    const outputs = template.toJSON().Outputs;
    for (const name of queueNames) {
      const id = name.charAt(0).toUpperCase() + name.slice(1);
      expect(outputs[`${id}QueueUrl`].Value).toEqual(ref(logicalId(stacks.data.queues.queues[name])));
      expect(outputs[`${id}DeadLetterQueueUrl`].Value).toEqual(ref(logicalId(stacks.data.queues.deadLetterQueues[name])));
    }
  });

  it('has no dependency cycle: each dead-letter queue names its source queue by a built ARN, not a reference', () => {
    for (const name of queueNames) {
      const allowed = JSON.stringify(propsOf(stacks.data.queues.deadLetterQueues[name]).RedriveAllowPolicy);
      expect(allowed).not.toContain(logicalId(stacks.data.queues.queues[name]));
    }
    // The assertions library refuses a template whose resources depend on each other in a circle.
    expect(() => Template.fromJSON(template.toJSON())).not.toThrow();
  });
});

describe('consumers', () => {
  it.each(queueNames)('%s: its consumer takes batches of the declared size, at most maxConcurrency at once, and reports partial batch failures', (name) => {
    // The mapping invokes the consumer's live alias (canary deploys), never $LATEST.
    const consumerId = liveAliasId(stacks, stacks.workers.consumers.consumers[name]);
    const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => namesAlias(m.Properties.FunctionName, consumerId));
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties).toMatchObject({
      EventSourceArn: arnOf(logicalId(stacks.data.queues.queues[name])),
      BatchSize: taskflow.queues[name].batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: taskflow.queues[name].maxConcurrency },
    });
    const consume = actionsOn(stacks.workers.consumers.consumers[name], logicalId(stacks.data.queues.queues[name]));
    expect(consume).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']));
  });

  it('caps each consumer\'s concurrency: notifications 5, sync results 2 and deletions 2 (database connections), slack 2, github 2 and google calendar 2 (their rate limits), email 5, broadcast 5, feed fan-out 50 (the 20 shards of 10,000 connections at once, within the @connections rate)', () => {
    const maximum = (name: QueueName) =>
      ofType('AWS::Lambda::EventSourceMapping').find(([, m]) => namesAlias(m.Properties.FunctionName, liveAliasId(stacks, stacks.workers.consumers.consumers[name])))![1]
        .Properties.ScalingConfig?.MaximumConcurrency;
    expect(Object.fromEntries(queueNames.map((name) => [name, maximum(name)]))).toEqual({
      notifications: 5, slack: 2, email: 5, github: 2, googleCalendar: 2, syncResults: 2, broadcast: 5, feedFanout: 50, deletions: 2,
    });
  });

  it('runs the notifications consumer in the VPC (it reads the database) and lets it queue Slack messages and e-mails', () => {
    const consumer = stacks.workers.consumers.consumers.notifications;
    expect(propsOf(consumer).VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [logicalId(stacks.data.database.proxyClients), 'GroupId'] }]);
    expect(envOf(consumer)).toMatchObject({
      SLACK_QUEUE_URL: ref(logicalId(stacks.data.queues.queues.slack)),
      EMAIL_QUEUE_URL: ref(logicalId(stacks.data.queues.queues.email)),
    });
    for (const name of ['slack', 'email'] as const) {
      expect(actionsOn(consumer, logicalId(stacks.data.queues.queues[name]))).toContain('sqs:SendMessage');
    }
  });

  it('keeps the Slack consumer out of the VPC (it calls Slack), with the API URL and its token secret read through the extension', () => {
    const consumer = stacks.workers.consumers.consumers.slack;
    const secretId = logicalId(stacks.data.credentials.secrets.slack);
    expect(propsOf(consumer).VpcConfig).toBeUndefined();
    expect(envOf(consumer)).toMatchObject({
      SLACK_API_URL: 'https://slack.com/api',
      SLACK_BOT_TOKEN_SECRET_ARN: ref(secretId),
      // The Parameters and Secrets extension, caching for 5 minutes.
      PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
      SECRETS_MANAGER_TTL: '300',
    });
    expect(envOf(consumer).DB_HOST).toBeUndefined();
    for (const arn of extensionLayerArns(consumer)) expect(arn).toMatch(/:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/);
    expect(actionsOn(consumer, secretId)).toContain('secretsmanager:GetSecretValue');
    // Only its own credential.
    expect(actionsOn(consumer, logicalId(stacks.data.credentials.secrets.sendgrid))).toEqual([]);
    expect(envOf(consumer).SENDGRID_API_KEY_SECRET_ARN).toBeUndefined();
  });

  it('keeps the e-mail consumer out of the VPC (it calls SendGrid), with the API URL, its key secret and the From address', () => {
    const consumer = stacks.workers.consumers.consumers.email;
    const secretId = logicalId(stacks.data.credentials.secrets.sendgrid);
    expect(propsOf(consumer).VpcConfig).toBeUndefined();
    expect(envOf(consumer)).toMatchObject({
      SENDGRID_API_URL: 'https://api.sendgrid.com',
      SENDGRID_API_KEY_SECRET_ARN: ref(secretId),
      NOTIFICATION_FROM_EMAIL: ref('NotificationFromEmail'),
      PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
      SECRETS_MANAGER_TTL: '300',
    });
    for (const arn of extensionLayerArns(consumer)) expect(arn).toMatch(/:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/);
    expect(actionsOn(consumer, secretId)).toContain('secretsmanager:GetSecretValue');
    expect(actionsOn(consumer, logicalId(stacks.data.credentials.secrets.slack))).toEqual([]);
  });

  it('outputs the ARNs of the Slack token and SendGrid key secrets for the operator to fill; no credential is in the template', () => {
    const outputs = template.toJSON().Outputs;
    expect(outputs.SlackBotTokenSecretArn.Value).toEqual(ref(logicalId(stacks.data.credentials.secrets.slack)));
    expect(outputs.SendGridApiKeySecretArn.Value).toEqual(ref(logicalId(stacks.data.credentials.secrets.sendgrid)));
    for (const secret of [stacks.data.credentials.secrets.slack, stacks.data.credentials.secrets.sendgrid]) {
      expect(propsOf(secret).SecretString).toBeUndefined();
    }
  });

  it('requires the NotificationFromEmail parameter, an e-mail address, with no default', () => {
    const parameter = template.toJSON().Parameters.NotificationFromEmail;
    expect(parameter.Default).toBeUndefined();
    const pattern = new RegExp(parameter.AllowedPattern);
    expect(pattern.test('notifications@acme.example')).toBe(true);
    for (const invalid of ['', 'notifications', 'notifications@acme', 'a b@acme.example', '@acme.example']) {
      expect(pattern.test(invalid), invalid).toBe(false);
    }
  });
});

describe('senders', () => {
  // Least privilege: whoever may send to the slack or email queue decides what the workers send to whom.
  it('gives each function the URL of, and sqs:SendMessage on, exactly the queues of its sendsTo', () => {
    const all = allFunctions();
    expect(all).toHaveLength(
      taskflow.routes.length + taskflow.websocket.routes.length + 2 + queueNames.length + Object.keys(taskflow.schedules).length,
    );
    for (const [name, fn] of all) {
      const sendsTo = [...new Set(fn.declaration.sendsTo ?? [])].sort();
      expect(queueUrlsOf(fn), name).toEqual(sendsTo);
      expect(sendableBy(fn), name).toEqual(sendsTo);
      if (sendsTo.length > 0) {
        expect(JSON.parse(envOf(fn).OUTBOX_ROUTES as string), name).toEqual(stacks.data.queues.routes);
      } else {
        expect(envOf(fn).OUTBOX_ROUTES, name).toBeUndefined();
      }
      // Never allowed to send to a dead-letter queue (only a redrive moves messages there and back).
      for (const queue of queueNames) {
        expect(actionsOn(fn, logicalId(stacks.data.queues.deadLetterQueues[queue])), `${name} ${queue}-dlq`).not.toContain('sqs:SendMessage');
      }
    }
  });

  it('lets each mutation function send to the event queues only (notifications, broadcast, deletions), with the outbox routes', () => {
    expect(mutations.length).toBeGreaterThan(0);
    for (const route of mutations) {
      const fn = routeFunctions(stacks).get(route.operationId)!;
      expect(queueUrlsOf(fn), route.operationId).toEqual(['broadcast', 'deletions', 'notifications']);
      expect(sendableBy(fn), route.operationId).toEqual(['broadcast', 'deletions', 'notifications']);
      expect(envOf(fn).NOTIFICATIONS_QUEUE_URL, route.operationId).toEqual(ref(logicalId(stacks.data.queues.queues.notifications)));
      expect(envOf(fn).BROADCAST_QUEUE_URL, route.operationId).toEqual(ref(logicalId(stacks.data.queues.queues.broadcast)));
      // Not the workers' queues: an API function cannot make them send arbitrary Slack messages or e-mails.
      for (const worker of ['slack', 'email'] as const) {
        expect(actionsOn(fn, logicalId(stacks.data.queues.queues[worker])), `${route.operationId} ${worker}`).toEqual([]);
      }
      expect(JSON.parse(envOf(fn).OUTBOX_ROUTES as string)).toEqual({
        'project.created': ['broadcast'],
        'project.updated': ['broadcast'],
        'project.deleted': ['broadcast', 'deletions'],
        'task.created': ['notifications', 'broadcast'],
        'task.updated': ['notifications', 'broadcast'],
        'task.deleted': ['broadcast'],
        'comment.created': ['notifications', 'broadcast'],
        'comment.updated': ['broadcast'],
        'comment.deleted': ['broadcast'],
        'attachment.added': ['broadcast'],
        'attachment.removed': ['broadcast'],
        'member.removed': ['broadcast'],
        'watcher.added': ['broadcast'],
        'watcher.removed': ['broadcast'],
        'preferences.updated': ['broadcast'],
      });
    }
  });

  it('gives read-only route functions no queue (the integrations health only reads their depth)', () => {
    expect(reads.length).toBeGreaterThan(0);
    for (const route of reads) {
      const fn = routeFunctions(stacks).get(route.operationId)!;
      const depthOnly = (route.function.needs as readonly string[]).includes('queue-status');
      expect(envOf(fn).OUTBOX_ROUTES, route.operationId).toBeUndefined();
      expect(queueUrlsOf(fn), route.operationId).toEqual([]);
      for (const name of queueNames) {
        expect(actionsOn(fn, logicalId(stacks.data.queues.queues[name])), route.operationId).toEqual(depthOnly ? ['sqs:GetQueueAttributes'] : []);
      }
    }
  });

  it('lets the notifications consumer send to the slack and email queues only, and the senders to none', () => {
    const notifications = stacks.workers.consumers.consumers.notifications;
    expect(queueUrlsOf(notifications)).toEqual(['email', 'slack']);
    expect(sendableBy(notifications)).toEqual(['email', 'slack']);
    for (const sender of ['slack', 'email'] as const) {
      const consumer = stacks.workers.consumers.consumers[sender];
      expect(queueUrlsOf(consumer), sender).toEqual([]);
      expect(sendableBy(consumer), sender).toEqual([]);
      expect(envOf(consumer).OUTBOX_ROUTES, sender).toBeUndefined();
    }
  });

  it('lets the outbox relay send to every queue', () => {
    const relay = stacks.workers.schedules.functions.outboxRelay;
    expect(queueUrlsOf(relay)).toEqual([...queueNames].sort());
    expect(sendableBy(relay)).toEqual([...queueNames].sort());
  });

  it('lets the functions in the VPC reach SQS through a private interface endpoint', () => {
    const endpoint = propsOf(stacks.data.network.sqsEndpoint);
    expect(endpoint.VpcEndpointType).toBe('Interface');
    expect(JSON.stringify(endpoint.ServiceName)).toContain('.sqs');
    expect(endpoint.PrivateDnsEnabled).toBe(true);
    const endpointGroup = logicalId(stacks.data.network.sqsEndpoint.connections.securityGroups[0]!);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [endpointGroup, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(stacks.data.database.proxyClients), 'GroupId'] },
      FromPort: 443,
      ToPort: 443,
    });
  });
});

describe('outbox relay', () => {
  it('runs every minute from an EventBridge rule, without retries (the next run comes a minute later)', () => {
    const relay = stacks.workers.schedules.functions.outboxRelay;
    const relayId = logicalId(relay);
    // The rule invokes the relay's live alias (canary deploys), never $LATEST.
    const aliasId = liveAliasId(stacks, relay);
    const rule = propsOf(stacks.workers.schedules.rules.outboxRelay);
    expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    expect(rule.State).toBe('ENABLED');
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: ref(aliasId), RetryPolicy: { MaximumRetryAttempts: 0 } })]);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: ref(aliasId),
      Principal: 'events.amazonaws.com',
      SourceArn: arnOf(logicalId(stacks.workers.schedules.rules.outboxRelay)),
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: ref(relayId), Qualifier: aliasQualifier(aliasId), MaximumRetryAttempts: 0 });
    // It polls for most of its 90 s, so runs overlap.
    expect(propsOf(relay).Timeout).toBe(90);
  });

  it('publishes to every queue from the VPC: database, queue URLs and outbox routes', () => {
    const relay = stacks.workers.schedules.functions.outboxRelay;
    expect(propsOf(relay).VpcConfig).toBeDefined();
    expect(envOf(relay)).toMatchObject({ DB_USER: 'taskflow_app', OUTBOX_ROUTES: expect.any(String) });
    for (const name of queueNames) {
      expect(actionsOn(relay, logicalId(stacks.data.queues.queues[name]))).toContain('sqs:SendMessage');
    }
  });

  it('alarms when the oldest unpublished outbox entry is over 5 s old, or when the relay reports nothing', () => {
    expect(propsOf(stacks.operations.outbox.ageAlarm)).toMatchObject({
      Namespace: 'TaskFlow',
      MetricName: 'OutboxOldestUnpublishedAgeSeconds',
      Dimensions: [{ Name: 'service', Value: 'taskflow' }],
      Statistic: 'Maximum',
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 5,
      TreatMissingData: 'breaching',
    });
  });

  it('alarms when the relay keeps failing', () => {
    expect(propsOf(stacks.operations.outbox.relayErrorsAlarm)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(logicalId(stacks.workers.schedules.functions.outboxRelay)) }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
  });
});

describe('alarm notifications', () => {
  const topicId = () => logicalId(stacks.operations.alarms.topic);

  it('gives every CloudWatch alarm of the stack the alarm topic as its ALARM and OK action (the SLO burn-rate windows through their composites)', () => {
    const windows = new Set(stacks.operations.slos.windowAlarms.map(logicalId));
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(([id]) => !windows.has(id));
    expect(windows.size).toBe(Object.keys(taskflow.slos).length * 6);
    for (const [id, alarm] of ofType('AWS::CloudWatch::CompositeAlarm')) expect(alarm.Properties.AlarmActions, id).toEqual([ref(topicId())]);
    // A dead-letter alarm per queue, the outbox age and relay errors, the conflict rate.
    expect(alarms.length).toBeGreaterThanOrEqual(queueNames.length + 3);
    for (const alarm of [...Object.values(stacks.operations.deadLetters.alarms), stacks.operations.outbox.ageAlarm, stacks.operations.outbox.relayErrorsAlarm, stacks.operations.conflictRate.alarm]) {
      expect(alarms.map(([id]) => id)).toContain(logicalId(alarm));
    }
    // A deployment's rollback alarms (each function's, in its own stack) are CodeDeploy's triggers: their effect is a
    // deployment rolled back and a stack update failed, which whoever deploys sees; every one of them gates a deployment
    // group. Every other alarm notifies the topic.
    const rollbackAlarms = new Set(
      [stacks.reads, stacks.mutations, stacks.api, stacks.feed, stacks.workers].flatMap((stack) =>
        [...stack.deployments.functions.values()].flatMap(({ rollback }) => [logicalId(rollback.errors), logicalId(rollback.latency)]),
      ),
    );
    const gating = JSON.stringify(ofType('AWS::CodeDeploy::DeploymentGroup').map(([, group]) => group.Properties.AlarmConfiguration));
    for (const id of rollbackAlarms) expect(gating, id).toContain(`"${id}"`);
    for (const [id, alarm] of alarms) {
      if (rollbackAlarms.has(id)) continue;
      expect(alarm.Properties.AlarmActions, id).toEqual([ref(topicId())]);
      expect(alarm.Properties.OKActions, id).toEqual([ref(topicId())]);
      expect(alarm.Properties.ActionsEnabled ?? true, id).toBe(true);
    }
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(template.toJSON().Outputs.AlarmTopicArn.Value).toEqual(ref(topicId()));
  });

  it('encrypts the topic with its own rotated KMS key, which CloudWatch may use to publish', () => {
    const keyId = logicalId(stacks.operations.alarms.key);
    expect(propsOf(stacks.operations.alarms.topic).KmsMasterKeyId).toEqual(arnOf(keyId));
    const key = resources[keyId]!.Properties;
    expect(key.EnableKeyRotation).toBe(true);
    expect(key.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
  });

  it('refuses publishing without TLS and lets CloudWatch publish for this account\'s alarms only', () => {
    const policies = ofType('AWS::SNS::TopicPolicy').filter(([, p]) => p.Properties.Topics.some((t: { Ref: string }) => t.Ref === topicId()));
    expect(policies).toHaveLength(1);
    const statements = policies[0]![1].Properties.PolicyDocument.Statement as Record<string, any>[];
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    const cloudwatch = statements.find((st) => st.Effect === 'Allow' && st.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(cloudwatch).toMatchObject({ Action: 'sns:Publish', Resource: ref(topicId()) });
    expect(cloudwatch!.Condition.StringEquals).toEqual({ 'aws:SourceAccount': ref('AWS::AccountId') });
    expect(resolveArn(cloudwatch!.Condition.ArnLike['aws:SourceArn'])).toBe('arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*');
  });

  it('takes an optional AlarmEmail parameter: empty by default, else an e-mail address', () => {
    const parameter = template.toJSON().Parameters.AlarmEmail;
    expect(parameter.Default).toBe('');
    const pattern = new RegExp(parameter.AllowedPattern);
    for (const valid of ['', 'ops@example.com']) expect(pattern.test(valid), valid).toBe(true);
    for (const invalid of ['ops', 'ops@example', 'a b@example.com', '@example.com']) expect(pattern.test(invalid), invalid).toBe(false);
  });

  it('subscribes the AlarmEmail address to the topic only when it is set (a CloudFormation condition)', () => {
    expect(template.toJSON().Conditions.HasAlarmEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [ref('AlarmEmail'), ''] }] });
    const subscriptions = Object.entries(template.toJSON().Resources as Record<string, Resource & { Condition?: string }>).filter(
      ([, r]) => r.Type === 'AWS::SNS::Subscription',
    );
    expect(subscriptions).toHaveLength(1);
    const [, subscription] = subscriptions[0]!;
    expect(subscription.Condition).toBe('HasAlarmEmail');
    expect(subscription.Properties).toEqual({ Protocol: 'email', Endpoint: ref('AlarmEmail'), TopicArn: ref(topicId()) });
  });
});

describe('TaskFlowFunction', () => {
  const setup = () => {
    const stack = new Stack(new App(), 'Refusals');
    const network = new Network(stack, 'Network');
    const database = new Database(stack, 'Database', { network, instanceIdentifier: 'refusals-postgres' });
    const credentials = new Credentials(stack, 'Integrations').secrets;
    const notifications = new sqs.Queue(stack, 'Notifications');
    const queues = { queues: { notifications }, deadLetterQueues: {}, routes: { 'task.created': ['notifications'] }, integrations: {} };
    return { stack, database, credentials, notificationFromEmail: 'notifications@acme.example', queues };
  };

  it.each([
    [['database', 'slack']],
    [['database', 'sendgrid']],
    [['database-admin', 'slack']],
  ] as Capability[][][])('refuses a function that needs %j: the VPC has no route to the internet', (needs) => {
    const { stack, database, credentials, notificationFromEmail, queues } = setup();
    const declaration = { entry: 'functions/workers/slack.ts', description: 'refused', needs };
    expect(() => new TaskFlowFunction(stack, 'Refused', { declaration, platform: { database, credentials, notificationFromEmail, queues } })).toThrow(
      /no route to the internet/,
    );
  });

  it('refuses a sendsTo naming a queue that is not declared', () => {
    const { stack, database, queues } = setup();
    const declaration = { entry: 'functions/api/tasks/create.ts', description: 'refused', needs: ['database'] as const, sendsTo: ['notifications', 'sms'] };
    expect(() => new TaskFlowFunction(stack, 'Refused', { declaration, platform: { database, queues } })).toThrow(
      'functions/api/tasks/create.ts sends to sms, which is not a declared queue (declared: notifications)',
    );
  });

  it('refuses a sendsTo without the queues to send to', () => {
    const { stack, database } = setup();
    const declaration = { entry: 'functions/api/tasks/create.ts', description: 'refused', needs: ['database'] as const, sendsTo: ['notifications'] };
    expect(() => new TaskFlowFunction(stack, 'Refused', { declaration, platform: { database } })).toThrow(/requires the queues construct/);
  });

  it('grants a declared sendsTo: the queue URL, the outbox routes and sqs:SendMessage on that queue', () => {
    const { stack, database, queues } = setup();
    const declaration = { entry: 'functions/api/tasks/create.ts', description: 'allowed', needs: ['database'] as const, sendsTo: ['notifications'] };
    const fn = new TaskFlowFunction(stack, 'Allowed', { declaration, platform: { database, queues } });
    const template = Template.fromStack(stack);
    const fnProps = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as CfnResource)].Properties;
    expect(fnProps.Environment.Variables).toMatchObject({
      NOTIFICATIONS_QUEUE_URL: { Ref: stack.getLogicalId(queues.queues.notifications.node.defaultChild as CfnResource) },
      OUTBOX_ROUTES: '{"task.created":["notifications"]}',
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: { 'Fn::GetAtt': [stack.getLogicalId(queues.queues.notifications.node.defaultChild as CfnResource), 'Arn'] },
          }),
        ]),
      },
    });
  });
});
