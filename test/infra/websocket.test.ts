import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { type Capability, webSocketFunctionId } from '../../lib/declaration';
import { Credentials } from '../../lib/constructs/credentials';
import { Database } from '../../lib/constructs/database';
import { TaskFlowFunction } from '../../lib/constructs/function';
import { Network } from '../../lib/constructs/network';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { aliasQualifier, liveAliasId, logicalId, type Resource, resourcesOfType, routeFunctions, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// The activity feed as deployed (docs/feed.md): the WebSocket API and its routes, who may post to the
// connections, the connections table, and the synthetic probe with its alarms.

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

let template: Template;
let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ template, stacks, resources } = synthesizeTaskFlow());
}, SYNTH_TIMEOUT_MS);

const routes = taskflow.websocket.routes;
const ofType = (type: string) => resourcesOfType(resources, type);
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const propsOf = (construct: IConstruct) => resources[logicalId(construct)]!.Properties;
const envOf = (construct: IConstruct) => propsOf(construct).Environment.Variables as Record<string, unknown>;
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
/** An ARN or URL as deployed in eu-west-1 of account 123456789012 (resolves Fn::Join of pseudo parameters and refs). */
const resolve = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': 'eu-west-1',
    'AWS::AccountId': '123456789012',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const { 'Fn::Join': join, Ref } = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string };
  if (Ref) return pseudo[Ref] ?? `<${Ref}>`;
  if (join) return join[1].map(resolve).join(join[0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
};
const apiId = () => logicalId(stacks.feed.webSocket.api);
/** Every TaskFlow function of the app. */
const allFunctions = (): TaskFlowFunction[] =>
  stacks.stacks.flatMap((stack) => stack.node.findAll()).filter((construct): construct is TaskFlowFunction => construct instanceof TaskFlowFunction);
const manageConnections = (fn: IConstruct) =>
  statementsOf(fn).filter((s) => [s.Action].flat().includes('execute-api:ManageConnections'));

describe('WebSocket API', () => {
  it('routes messages on their action', () => {
    const api = propsOf(stacks.feed.webSocket.api);
    expect(api).toMatchObject({ ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
  });

  it('has one route per declared route, each integrated (Lambda proxy) with its own function', () => {
    const declared = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(declared.map((r) => r.RouteKey).sort()).toEqual(routes.map((r) => r.route).sort());
    const integrations = new Map(ofType('AWS::ApiGatewayV2::Integration').map(([id, i]) => [id, i.Properties]));
    for (const route of routes) {
      const fn = stacks.feed.webSocket.routeFunctions.get(route.route)!;
      expect(fn.node.id).toBe(webSocketFunctionId(route));
      expect(propsOf(fn).Description).toBe(route.function.description);
      const added = declared.find((r) => r.RouteKey === route.route)!;
      expect(added.ApiId).toEqual(ref(apiId()));
      const integrationId = (added.Target['Fn::Join'][1] as unknown[])[1] as { Ref: string };
      const integration = integrations.get(integrationId.Ref)!;
      expect(integration.IntegrationType).toBe('AWS_PROXY');
      // Its live alias (canary deploys), never $LATEST.
      expect(JSON.stringify(integration.IntegrationUri)).toContain(`"${liveAliasId(stacks, fn)}"`);
      // API Gateway may invoke it, from this API only.
      const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(p.Properties.FunctionName).includes(`"${liveAliasId(stacks, fn)}"`));
      expect(permissions.map(([, p]) => p.Properties.Principal), route.route).toContain('apigateway.amazonaws.com');
      for (const [, permission] of permissions) expect(JSON.stringify(permission.Properties.SourceArn)).toContain(`"${apiId()}"`);
    }
  });

  it('authorizes $connect with the REST API\'s authorizer function, a REQUEST authorizer on the token query-string parameter', () => {
    const authorizers = ofType('AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [[authorizerId, authorizer]] = authorizers as [[string, Resource]];
    expect(authorizer.Properties).toMatchObject({
      ApiId: ref(apiId()),
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    // The same function (its live alias) as the REST API's TOKEN authorizer: one function, two authorizers.
    const functionId = liveAliasId(stacks, stacks.api.authorizerFunction);
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(`"${functionId}"`);
    const [[, restAuthorizer]] = ofType('AWS::ApiGateway::Authorizer') as [[string, Resource]];
    expect(JSON.stringify(restAuthorizer.Properties.AuthorizerUri)).toContain(`"${functionId}"`);
    const invokes = ofType('AWS::Lambda::Permission')
      .map(([, p]) => p.Properties)
      .filter((p) => JSON.stringify(p.FunctionName) === JSON.stringify(ref(functionId)));
    expect(invokes.map((p) => resolve(p.SourceArn))).toContain(
      `arn:aws:execute-api:eu-west-1:123456789012:<${apiId()}>/authorizers/<${authorizerId}>`,
    );

    for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
      if (route.Properties.RouteKey === '$connect') {
        expect(route.Properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: ref(authorizerId) });
      } else {
        // Authorized once, at $connect: later messages carry the connection's identity.
        expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('NONE');
        expect(route.Properties.AuthorizerId, route.Properties.RouteKey).toBeUndefined();
      }
    }
  });

  it('answers with a frame (a route response) on exactly the routes declared to reply', () => {
    const routeIds = new Map(ofType('AWS::ApiGatewayV2::Route').map(([id, r]) => [id, r.Properties.RouteKey as string]));
    const responses = ofType('AWS::ApiGatewayV2::RouteResponse').map(([, r]) => r.Properties);
    for (const response of responses) expect(response.RouteResponseKey).toBe('$default');
    const answering = responses.map((r) => routeIds.get(r.RouteId.Ref)).sort();
    expect(answering).toEqual(routes.filter((r) => r.replies).map((r) => r.route).sort());
    for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
      const replies = routes.find((r) => r.route === route.Properties.RouteKey)!.replies;
      expect(route.Properties.RouteResponseSelectionExpression, route.Properties.RouteKey).toBe(replies ? '$default' : undefined);
    }
  });

  it('deploys stage v1 on every change, with default route throttling and JSON access logs to a retained log group', () => {
    const stages = ofType('AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const [[, stage]] = stages as [[string, Resource]];
    expect(stage.Properties).toMatchObject({
      ApiId: ref(apiId()),
      StageName: 'v1',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1_000 },
    });
    const format = stage.Properties.AccessLogSettings.Format as string;
    const line = JSON.parse(format.replaceAll(/\$context\.[\w.]+/g, 'x'));
    expect(Object.keys(line)).toEqual(
      expect.arrayContaining(['requestId', 'eventType', 'routeKey', 'connectionId', 'status', 'principalId', 'orgId', 'error']),
    );
    const logGroupId = stage.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]!.Type).toBe('AWS::Logs::LogGroup');
    expect(resources[logGroupId]!.Properties.RetentionInDays).toBeGreaterThan(0);
    expect(template.toJSON().Resources[logGroupId].DeletionPolicy).toBe('Retain');
    // Logging needs the account's API Gateway CloudWatch role, which the REST API sets: its stack deploys first.
    const account = stacks.api.api.restApi.node.findChild('Account');
    expect(stacks.feed.dependencies).toContain(Stack.of(account));
  });

  it('outputs the wss URL clients connect to and the @connections management URL', () => {
    const outputs = template.toJSON().Outputs;
    expect(resolve(outputs.WebSocketUrl.Value)).toBe(`wss://<${apiId()}>.execute-api.eu-west-1.amazonaws.com/v1`);
    expect(resolve(outputs.WebSocketManagementUrl.Value)).toBe(`https://<${apiId()}>.execute-api.eu-west-1.amazonaws.com/v1`);
  });

  it('puts only the route functions that need the database in the VPC (resume), and gives each the connections table it needs', () => {
    const tableId = logicalId(stacks.data.storage.tables.connections);
    for (const route of routes) {
      const fn = stacks.feed.webSocket.routeFunctions.get(route.route)!;
      const needs = route.function.needs as readonly Capability[];
      expect(propsOf(fn).VpcConfig !== undefined, route.route).toBe(needs.includes('database'));
      if (needs.includes('connections')) {
        expect(envOf(fn).CONNECTIONS_TABLE_NAME, route.route).toEqual(ref(tableId));
        expect(actionsOn(fn, tableId), route.route).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem']));
      } else {
        expect(envOf(fn).CONNECTIONS_TABLE_NAME, route.route).toBeUndefined();
        expect(actionsOn(fn, tableId), route.route).toEqual([]);
      }
    }
    expect(propsOf(stacks.feed.webSocket.routeFunctions.get('resume')!).VpcConfig.SecurityGroupIds).toEqual([
      { 'Fn::GetAtt': [logicalId(stacks.data.database.proxyClients), 'GroupId'] },
    ]);
  });

  it('runs the migrations before any WebSocket route function takes new code', () => {
    // The feed's stack deploys after the schema stack, which holds the migrations' trigger.
    expect(Stack.of(stacks.schema.migrations.trigger)).toBe(stacks.schema);
    for (const fn of stacks.feed.webSocket.routeFunctions.values()) expect(Stack.of(fn).dependencies, fn.node.id).toContain(stacks.schema);
  });
});

describe('posting to connections', () => {
  it('lets the broadcast worker post to, read and close the stage\'s connections, from outside the VPC', () => {
    const worker = stacks.workers.consumers.consumers.broadcast;
    expect(propsOf(worker).VpcConfig).toBeUndefined();
    expect(resolve(envOf(worker).WEBSOCKET_MANAGEMENT_URL)).toBe(`https://<${apiId()}>.execute-api.eu-west-1.amazonaws.com/v1`);
    expect(envOf(worker).CONNECTIONS_TABLE_NAME).toEqual(ref(logicalId(stacks.data.storage.tables.connections)));
    expect(envOf(worker).DB_HOST).toBeUndefined();
    const statements = manageConnections(worker);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toBe('execute-api:ManageConnections');
    expect([statements[0]!.Resource].flat().map(resolve).sort()).toEqual(
      ['DELETE', 'GET', 'POST'].map((method) => `arn:aws:execute-api:eu-west-1:123456789012:<${apiId()}>/v1/${method}/@connections/*`),
    );
  });

  it('gives ManageConnections to the functions that need websocket (the broadcast and fan-out workers) and to no other', () => {
    const granted = allFunctions().filter((fn) => manageConnections(fn).length > 0);
    const { broadcast, feedFanout } = stacks.workers.consumers.consumers;
    expect(granted.map((fn) => fn.node.path).sort()).toEqual([broadcast.node.path, feedFanout.node.path].sort());
    for (const fn of allFunctions()) {
      const needs = fn.declaration.needs as readonly Capability[];
      expect(envOf(fn).WEBSOCKET_MANAGEMENT_URL !== undefined, fn.node.path).toBe(needs.includes('websocket'));
    }
    // The replay answers on its own route: it needs no grant, and it is in the VPC, where @connections is out of reach.
    const resume = stacks.feed.webSocket.routeFunctions.get('resume')!;
    expect(propsOf(resume).VpcConfig).toBeDefined();
    expect(manageConnections(resume)).toEqual([]);
  });
});

describe('fan-out', () => {
  it('queues each broadcast\'s shards to feedFanout, whose worker posts them out of the VPC, one shard an invocation, 50 at once', () => {
    const { broadcast, feedFanout } = stacks.workers.consumers.consumers;
    const queueId = logicalId(stacks.data.queues.queues.feedFanout);
    expect(envOf(broadcast).FEEDFANOUT_QUEUE_URL).toEqual(ref(queueId));
    expect(actionsOn(broadcast, queueId)).toContain('sqs:SendMessage');
    expect(propsOf(feedFanout).VpcConfig).toBeUndefined();
    expect(resolve(envOf(feedFanout).WEBSOCKET_MANAGEMENT_URL)).toBe(`https://<${apiId()}>.execute-api.eu-west-1.amazonaws.com/v1`);
    // It removes the gone connections it finds.
    expect(envOf(feedFanout).CONNECTIONS_TABLE_NAME).toEqual(ref(logicalId(stacks.data.storage.tables.connections)));
    const mapping = ofType('AWS::Lambda::EventSourceMapping').find(([, m]) => JSON.stringify(m.Properties.EventSourceArn).includes(`"${queueId}"`))![1];
    expect(mapping.Properties).toMatchObject({ BatchSize: 1, ScalingConfig: { MaximumConcurrency: 50 }, FunctionResponseTypes: ['ReportBatchItemFailures'] });
  });

  it('moves a shard that fails 3 times to TaskFlow-feedFanout-dlq, whose alarm names the fan-out runbook', () => {
    const queue = propsOf(stacks.data.queues.queues.feedFanout);
    const deadLetterId = logicalId(stacks.data.queues.deadLetterQueues.feedFanout);
    expect(queue).toMatchObject({ QueueName: 'TaskFlow-feedFanout', RedrivePolicy: { deadLetterTargetArn: arnOf(deadLetterId), maxReceiveCount: 3 } });
    expect(propsOf(stacks.data.queues.deadLetterQueues.feedFanout).QueueName).toBe('TaskFlow-feedFanout-dlq');
    const alarm = propsOf(stacks.operations.deadLetters.alarms.feedFanout);
    expect(alarm).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    expect(alarm.AlarmDescription).toContain('TaskFlow-feedFanout-dlq');
    expect(alarm.AlarmDescription).toContain('docs/runbooks/feed-fanout.md');
    expect(alarm.AlarmActions).toBeDefined();
  });
});

describe('connections table', () => {
  it('is keyed by pk and sk (strings), expires items on expiration, on demand with point-in-time recovery, retained', () => {
    const id = logicalId(stacks.data.storage.tables.connections);
    expect(resources[id]!.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(template.toJSON().Resources[id].DeletionPolicy).toBe('Retain');
    expect(template.toJSON().Outputs.ConnectionsTableName.Value).toEqual(ref(id));
  });

  it('is named to, and readable and writable by, exactly the functions that need connections (the health check among them)', () => {
    const tableId = logicalId(stacks.data.storage.tables.connections);
    for (const fn of allFunctions()) {
      const needs = fn.declaration.needs as readonly Capability[];
      if (needs.includes('connections')) {
        expect(envOf(fn).CONNECTIONS_TABLE_NAME, fn.node.path).toEqual(ref(tableId));
        expect(actionsOn(fn, tableId), fn.node.path).toContain('dynamodb:GetItem');
      } else {
        expect(envOf(fn).CONNECTIONS_TABLE_NAME, fn.node.path).toBeUndefined();
        expect(actionsOn(fn, tableId), fn.node.path).toEqual([]);
      }
    }
    expect(envOf(routeFunctions(stacks).get('getHealth')!).CONNECTIONS_TABLE_NAME).toEqual(ref(tableId));
  });
});

describe('feed probe', () => {
  it('runs every 5 minutes from an EventBridge rule, without retries', () => {
    const probe = stacks.workers.schedules.functions.feedProbe;
    const rule = propsOf(stacks.workers.schedules.rules.feedProbe);
    expect(rule.ScheduleExpression).toBe('rate(5 minutes)');
    // Its live alias (canary deploys), never $LATEST.
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: ref(liveAliasId(stacks, probe)), RetryPolicy: { MaximumRetryAttempts: 0 } })]);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: ref(logicalId(probe)), Qualifier: aliasQualifier(liveAliasId(stacks, probe)), MaximumRetryAttempts: 0 });
  });

  it('connects as a browser would: out of the VPC, with the public WebSocket and REST URLs and its credentials secret', () => {
    const probe = stacks.workers.schedules.functions.feedProbe;
    const secretId = logicalId(stacks.data.credentials.secrets.feedProbe);
    expect(propsOf(probe).VpcConfig).toBeUndefined();
    const env = envOf(probe);
    expect(resolve(env.WEBSOCKET_URL)).toBe(`wss://<${apiId()}>.execute-api.eu-west-1.amazonaws.com/v1`);
    expect(resolve(env.API_URL)).toMatch(new RegExp(`^https://<${logicalId(stacks.api.api.restApi)}>\\.execute-api\\.eu-west-1\\.amazonaws\\.com/<\\w+>/$`));
    expect(env).toMatchObject({
      FEED_PROBE_CREDENTIALS_SECRET_ARN: ref(secretId),
      CONNECTIONS_TABLE_NAME: ref(logicalId(stacks.data.storage.tables.connections)),
      // The Parameters and Secrets extension, caching for 5 minutes.
      PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
      SECRETS_MANAGER_TTL: '300',
    });
    expect(env.DB_HOST).toBeUndefined();
    expect(propsOf(probe).Layers).toHaveLength(1);
    expect(actionsOn(probe, secretId)).toContain('secretsmanager:GetSecretValue');
    // The probe connects: it does not post to connections.
    expect(manageConnections(probe)).toEqual([]);
    // Only the probe reads its credentials, and the synthetic canary, which signs in as the probe's client.
    const canary = stacks.workers.schedules.functions.syntheticCanary;
    expect(actionsOn(canary, secretId)).toContain('secretsmanager:GetSecretValue');
    for (const fn of allFunctions().filter((f) => f !== probe && f !== canary)) expect(actionsOn(fn, secretId), fn.node.path).toEqual([]);
  });

  it('outputs the ARN of its credentials secret for the operator to fill; no credential is in the template', () => {
    const secret = stacks.data.credentials.secrets.feedProbe;
    expect(template.toJSON().Outputs.FeedProbeCredentialsSecretArn.Value).toEqual(ref(logicalId(secret)));
    expect(propsOf(secret).SecretString).toBeUndefined();
    expect(propsOf(secret).Description).toContain('"tokenUrl","clientId","clientSecret","audience"');
  });

  it('alarms when two 5-minute periods in a row had a delivery over 5 s, or none reported', () => {
    expect(propsOf(stacks.operations.feedProbe.deliveryAlarm)).toMatchObject({
      Namespace: 'TaskFlow',
      MetricName: 'FeedProbeDeliveryMs',
      Dimensions: [{ Name: 'service', Value: 'taskflow' }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 5_000,
      TreatMissingData: 'breaching',
    });
  });

  it('alarms as soon as a probe run fails', () => {
    expect(propsOf(stacks.operations.feedProbe.failuresAlarm)).toMatchObject({
      Namespace: 'TaskFlow',
      MetricName: 'FeedProbeFailures',
      Dimensions: [{ Name: 'service', Value: 'taskflow' }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('notifies the alarm topic from both alarms', () => {
    const topic = ref(logicalId(stacks.operations.alarms.topic));
    for (const alarm of [stacks.operations.feedProbe.deliveryAlarm, stacks.operations.feedProbe.failuresAlarm]) {
      expect(propsOf(alarm).AlarmActions).toEqual([topic]);
      expect(propsOf(alarm).OKActions).toEqual([topic]);
    }
  });
});

describe('TaskFlowFunction', () => {
  const setup = () => {
    const stack = new Stack(new App(), 'Refusals');
    const network = new Network(stack, 'Network');
    const database = new Database(stack, 'Database', { network, instanceIdentifier: 'refusals-postgres' });
    const credentials = new Credentials(stack, 'Integrations').secrets;
    const webSocket = {
      url: 'wss://example.execute-api.eu-west-1.amazonaws.com/v1',
      managementUrl: 'https://example.execute-api.eu-west-1.amazonaws.com/v1',
      manageConnectionsArns: ['arn:aws:execute-api:eu-west-1:123456789012:example/v1/POST/@connections/*'],
    };
    return { stack, database, credentials, webSocket, apiUrl: 'https://api.example/v1/' };
  };

  it.each([
    [['database', 'websocket']],
    [['database', 'feed-probe']],
    [['database-admin', 'websocket']],
  ] as Capability[][][])('refuses a function that needs %j: @connections and the public URLs are out of the VPC\'s reach', (needs) => {
    const { stack, ...platform } = setup();
    const declaration = { entry: 'functions/workers/broadcast.ts', description: 'refused', needs };
    expect(() => new TaskFlowFunction(stack, 'Refused', { declaration, platform })).toThrow(/@connections endpoint/);
  });

  it('refuses websocket without the WebSocket settings, and connections without the table', () => {
    const { stack, database } = setup();
    const websocket = { entry: 'functions/workers/broadcast.ts', description: 'refused', needs: ['websocket'] as const };
    expect(() => new TaskFlowFunction(stack, 'NoSettings', { declaration: websocket, platform: { database } })).toThrow(/requires the WebSocket settings/);
    const connections = { entry: 'functions/ws/connect.ts', description: 'refused', needs: ['connections'] as const };
    expect(() => new TaskFlowFunction(stack, 'NoTable', { declaration: connections, platform: { database } })).toThrow(/requires the connections table/);
  });
});
