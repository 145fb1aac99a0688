import { Aws, CfnCondition, CfnOutput, CfnParameter, Fn, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import { AlarmTopic } from '../constructs/alarm-topic';
import { Api, authorizerEnvironment } from '../constructs/api';
import { Database } from '../constructs/database';
import { Migrations } from '../constructs/migrations';
import { ConflictRateAlarm } from '../constructs/conflict-alarm';
import { FeedProbeAlarms } from '../constructs/feed-probe-alarm';
import { TaskFlowFunction } from '../constructs/function';
import { QuotaAlarm } from '../constructs/quota-alarm';
import { BreakerAlarms } from '../constructs/breaker-alarms';
import { Integrations } from '../constructs/integrations';
import { Network } from '../constructs/network';
import { queueId, Queues } from '../constructs/queues';
import { OutboxAlarms, Schedules } from '../constructs/schedules';
import { Storage, tableId } from '../constructs/storage';
import { WebSocketApi } from '../constructs/websocket-api';

type TableName = keyof typeof taskflow.tables;
type QueueName = keyof typeof taskflow.queues;
type ScheduleName = keyof typeof taskflow.schedules;

/**
 * TaskFlow on AWS, built from the one declaration (lib/app.ts): network, PostgreSQL behind RDS Proxy,
 * files bucket and DynamoDB tables, the REST API with one function per route, the activity feed's WebSocket
 * API (one function per route, the same JWT authorizer), the SQS queues (each with its dead-letter queue,
 * alarm and consumer), the scheduled functions (the outbox relay, the feed probe) with their alarms, and the
 * deploy-time migrations that run before any of those functions takes the new code. Every alarm notifies one
 * SNS topic (optionally e-mailed to the AlarmEmail parameter).
 *
 * Environment-agnostic (no lookups): `cdk synth` works offline.
 */
export class TaskFlowStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly storage: Storage<TableName>;
  readonly api: Api;
  readonly webSocket: WebSocketApi;
  readonly migrations: Migrations;
  readonly conflictRate: ConflictRateAlarm;
  readonly quotaThreshold: QuotaAlarm;
  readonly breakers: BreakerAlarms;
  readonly integrations: Integrations;
  readonly queues: Queues<QueueName>;
  readonly schedules: Schedules<ScheduleName>;
  readonly outbox: OutboxAlarms;
  readonly feedProbe: FeedProbeAlarms;
  readonly alarms: AlarmTopic;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, {
      description: 'TaskFlow: serverless project-management backend (REST API, Lambda, PostgreSQL behind RDS Proxy)',
      ...props,
    });

    const issuer = new CfnParameter(this, 'AuthIssuer', {
      type: 'String',
      description: 'Issuer (iss) of the bearer JWTs, e.g. https://your-tenant.auth0.com/',
      allowedPattern: '^https://\\S+$',
      constraintDescription: 'an https:// URL',
    });
    const audience = new CfnParameter(this, 'AuthAudience', {
      type: 'String',
      description: 'Audience (aud) the bearer JWTs must carry: the Auth0 API identifier',
      minLength: 1,
    });
    const jwksUrl = new CfnParameter(this, 'AuthJwksUrl', {
      type: 'String',
      default: '',
      description: 'JWKS URL of the issuer; empty: <issuer>/.well-known/jwks.json',
      allowedPattern: '^(https://\\S+)?$',
      constraintDescription: 'empty, or an https:// URL',
    });
    const roleClaim = new CfnParameter(this, 'AuthRoleClaim', {
      type: 'String',
      default: 'role',
      description: 'Claim that holds the caller\'s role (admin or member); with Auth0, a namespaced claim such as https://taskflow.example/role',
      minLength: 1,
    });
    const notificationFromEmail = new CfnParameter(this, 'NotificationFromEmail', {
      type: 'String',
      description: 'From address of notification e-mails: a sender (or domain) verified in SendGrid',
      allowedPattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      constraintDescription: 'an e-mail address, e.g. notifications@your-domain.example',
    });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: '',
      description: 'E-mail address that receives every TaskFlow alarm (it confirms the subscription once); empty: none, subscribe to AlarmTopicArn yourself',
      allowedPattern: '^([^@\\s]+@[^@\\s]+\\.[^@\\s]+)?$',
      constraintDescription: 'empty, or an e-mail address such as ops@your-domain.example',
    });
    const hasJwksUrl = new CfnCondition(this, 'HasAuthJwksUrl', {
      expression: Fn.conditionNot(Fn.conditionEquals(jwksUrl.valueAsString, '')),
    });
    const hasAlarmEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });

    this.network = new Network(this, 'Network');
    // `cdk deploy -c readReplica=true`: the weekly reports read from a replica (DESIGN.md); without it, from the primary.
    const readReplica = [true, 'true'].includes(this.node.tryGetContext('readReplica') as boolean | string);
    this.database = new Database(this, 'Database', { network: this.network, readReplica });
    this.storage = new Storage(this, 'Storage', { tables: taskflow.tables });
    this.integrations = new Integrations(this, 'Integrations', { notificationFromEmail: notificationFromEmail.valueAsString });
    // One JWT authorizer function for both APIs. Not in the VPC: it fetches the issuer's JWKS from the internet.
    const authorizer = new TaskFlowFunction(this, 'Authorizer', {
      declaration: taskflow.functions.authorizer,
      environment: authorizerEnvironment({
        issuer: issuer.valueAsString,
        audience: audience.valueAsString,
        // Unset (AWS::NoValue) when the parameter is empty: the authorizer derives it from the issuer.
        jwksUrl: Token.asString(Fn.conditionIf(hasJwksUrl.logicalId, jwksUrl.valueAsString, Aws.NO_VALUE)),
        roleClaim: roleClaim.valueAsString,
      }),
    });
    // Before the queues: the broadcast worker posts to its connections.
    this.webSocket = new WebSocketApi(this, 'WebSocket', {
      name: taskflow.name,
      routes: taskflow.websocket.routes,
      authorizerFunction: authorizer,
      database: this.database,
      connectionsTable: this.storage.tables.connections,
    });
    this.queues = new Queues(this, 'Queues', {
      name: taskflow.name,
      queues: taskflow.queues,
      endpoint: this.network.sqsEndpoint,
      database: this.database,
      idempotencyTable: this.storage.tables.idempotency,
      integrations: this.integrations,
      connectionsTable: this.storage.tables.connections,
      integrationsTable: this.storage.tables.integrations,
      webSocket: this.webSocket.settings,
    });
    this.api = new Api(this, 'Api', {
      name: taskflow.name,
      routes: taskflow.routes,
      authorizerFunction: authorizer,
      database: this.database,
      idempotencyTable: this.storage.tables.idempotency,
      rateLimitTable: this.storage.tables.rateLimits,
      filesBucket: this.storage.filesBucket,
      connectionsTable: this.storage.tables.connections,
      integrationsTable: this.storage.tables.integrations,
      queues: this.queues,
    });
    // WebSocket logging goes through the account's API Gateway CloudWatch role, which the REST API sets.
    const cloudWatchAccount = this.api.restApi.node.tryFindChild('Account');
    if (cloudWatchAccount) this.webSocket.stage.node.addDependency(cloudWatchAccount);
    this.schedules = new Schedules(this, 'Schedules', {
      schedules: taskflow.schedules,
      database: this.database,
      idempotencyTable: this.storage.tables.idempotency,
      filesBucket: this.storage.filesBucket,
      queues: this.queues,
      integrations: this.integrations,
      connectionsTable: this.storage.tables.connections,
      webSocket: this.webSocket.settings,
      apiUrl: this.api.url,
    });
    this.outbox = new OutboxAlarms(this, 'Outbox', { relay: this.schedules.functions.outboxRelay });
    this.feedProbe = new FeedProbeAlarms(this, 'FeedProbe');
    this.conflictRate = new ConflictRateAlarm(this, 'ConflictRate');
    this.quotaThreshold = new QuotaAlarm(this, 'QuotaThreshold');
    // The integrations TaskFlow calls today: one alarm each while its breaker is open.
    this.breakers = new BreakerAlarms(this, 'Breakers', {
      integrations: [...new Set(Object.values(taskflow.queues).flatMap((queue) => ('integration' in queue && queue.integration ? [queue.integration] : [])))],
    });
    this.alarms = new AlarmTopic(this, 'Alarms', {
      displayName: `${taskflow.name} alarms`,
      email: { address: alarmEmail.valueAsString, condition: hasAlarmEmail },
    });
    // Every alarm of the stack, whichever construct made it: none stays silent.
    this.alarms.notify(...this.node.findAll().filter((construct) => construct instanceof cloudwatch.Alarm));
    this.migrations = new Migrations(this, 'Migrations', {
      declaration: taskflow.functions.migrate,
      database: this.database,
      executeAfter: [this.network, this.database],
      // Every function of the application (all but the authorizer) takes new code only once the schema is migrated.
      executeBefore: [
        ...this.api.routeFunctions.values(),
        ...this.webSocket.routeFunctions.values(),
        ...Object.values(this.queues.consumers),
        ...Object.values(this.schedules.functions),
      ],
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the REST API (stage v1)' });
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocket.url,
      description: 'URL of the activity feed (WebSocket, stage v1): connect with ?token=<JWT>&clientId=<id> (docs/feed.md)',
    });
    new CfnOutput(this, 'WebSocketManagementUrl', {
      value: this.webSocket.managementUrl,
      description: 'The feed\'s @connections management endpoint (post to or close a connection with SigV4)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarms.topic.topicArn,
      description: 'SNS topic every TaskFlow alarm notifies (into ALARM and back to OK): subscribe e-mail, chat or paging to it',
    });
    new CfnOutput(this, 'FilesBucketName', { value: this.filesBucket.bucketName, description: 'Bucket of file attachments' });
    for (const [name, table] of Object.entries(this.storage.tables) as [TableName, dynamodb.Table][]) {
      new CfnOutput(this, `${tableId(name)}TableName`, {
        value: table.tableName,
        description: taskflow.tables[name].description,
      });
    }
    new CfnOutput(this, 'SlackBotTokenSecretArn', {
      value: this.integrations.slackBotToken.secretArn,
      description: 'Store the Slack bot token (xoxb-...) here, as the plain secret string',
    });
    new CfnOutput(this, 'SendGridApiKeySecretArn', {
      value: this.integrations.sendgridApiKey.secretArn,
      description: 'Store the SendGrid API key here, as the plain secret string',
    });
    new CfnOutput(this, 'FeedProbeCredentialsSecretArn', {
      value: this.integrations.feedProbeCredentials.secretArn,
      description:
        'Store the feed probe\'s OAuth client credentials here, as JSON {"tokenUrl","clientId","clientSecret","audience"} ' +
        '(an Auth0 machine-to-machine application whose tokens carry the probe organization)',
    });
    new CfnOutput(this, 'GitHubTokenSecretArn', {
      value: this.integrations.githubToken.secretArn,
      description: 'Store a GitHub token that can read the linked repositories\' issues here, as the plain secret string',
    });
    new CfnOutput(this, 'GoogleCalendarCredentialsSecretArn', {
      value: this.integrations.googleCalendarCredentials.secretArn,
      description: 'Store a Google service account\'s JSON key here; share each linked calendar with that service account',
    });
    for (const name of Object.keys(taskflow.queues) as QueueName[]) {
      new CfnOutput(this, `${queueId(name)}QueueUrl`, {
        value: this.queues.queues[name].queueUrl,
        description: taskflow.queues[name].description,
      });
      new CfnOutput(this, `${queueId(name)}DeadLetterQueueUrl`, {
        value: this.queues.deadLetterQueues[name].queueUrl,
        description: `Dead-letter queue of ${name}: inspect, then redrive to the ${name} queue`,
      });
    }
  }

  get filesBucket(): s3.Bucket {
    return this.storage.filesBucket;
  }

  get tables(): Readonly<Record<TableName, dynamodb.Table>> {
    return this.storage.tables;
  }

  get idempotencyTable(): dynamodb.Table {
    return this.storage.tables.idempotency;
  }
}
