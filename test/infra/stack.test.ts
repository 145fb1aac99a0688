import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import { functionId, type TableDeclaration } from '../../lib/declaration';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { assetFolder, liveAliasId, logicalId, type Resource, resourcesOfType, routeFunctions, SYNTH_TIMEOUT_MS, type Synthesized, synthesizeTaskFlow } from './synth';

let synthesized: Synthesized;
let template: Template;
let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  synthesized = synthesizeTaskFlow();
  ({ template, stacks, resources } = synthesized);
}, SYNTH_TIMEOUT_MS);

const ofType = (type: string) => resourcesOfType(resources, type);
const routeFunctionId = (operationId: string) => logicalId(routeFunctions(stacks).get(operationId)!);
const envOf = (id: string) => resources[id]!.Properties.Environment.Variables as Record<string, unknown>;
const ref = (id: string) => ({ Ref: id });

describe('network', () => {
  it('has two AZs of isolated subnets only: no NAT gateway, no internet gateway, no public IPs', () => {
    const subnets = ofType('AWS::EC2::Subnet');
    expect(subnets).toHaveLength(4);
    for (const [, subnet] of subnets) {
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
      expect(subnet.Properties.Tags).toContainEqual({ Key: 'aws-cdk:subnet-type', Value: 'Isolated' });
    }
    const names = subnets.map(([, s]) => s.Properties.Tags.find((t: { Key: string }) => t.Key === 'aws-cdk:subnet-name').Value);
    expect(names.sort()).toEqual(['Application', 'Application', 'Database', 'Database']);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::Route', 0);
  });

  it('logs flows to CloudWatch Logs', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
  });

  it('reaches DynamoDB and S3 through gateway endpoints, Secrets Manager, SQS and AWS Backup through private interface endpoints', () => {
    const endpoints = ofType('AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties);
    const service = (e: Record<string, any>) => JSON.stringify(e.ServiceName);
    expect(endpoints.filter((e) => e.VpcEndpointType === 'Gateway').map(service).sort()).toEqual([
      expect.stringContaining('.dynamodb'),
      expect.stringContaining('.s3'),
    ]);
    const interfaces = endpoints.filter((e) => e.VpcEndpointType === 'Interface');
    expect(interfaces.map(service).sort()).toEqual([expect.stringContaining('.backup'), expect.stringContaining('.secretsmanager'), expect.stringContaining('.sqs')]);
    for (const endpoint of interfaces) expect(endpoint.PrivateDnsEnabled).toBe(true);
  });
});

describe('database', () => {
  it('is a Multi-AZ, encrypted, deletion-protected PostgreSQL 16/17 with 7-day backups and IAM auth', () => {
    const [[id, instance]] = ofType('AWS::RDS::DBInstance') as [[string, Resource]];
    expect(instance.Properties).toMatchObject({
      Engine: 'postgres',
      MultiAZ: true,
      DeletionProtection: true,
      BackupRetentionPeriod: 7,
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      DBName: 'taskflow',
      PubliclyAccessible: false,
    });
    expect(instance.Properties.EngineVersion).toMatch(/^1[67]\.\d+$/);
    expect(instance.Properties.EnableCloudwatchLogsExports).toContain('postgresql');
    expect(instance.DeletionPolicy).toBe('Snapshot');
    template.hasResource('AWS::RDS::DBInstance', { UpdateReplacePolicy: 'Snapshot' });
    expect(id).toBe(logicalId(stacks.data.database.instance));
  });

  it('forces TLS through its parameter group', () => {
    const [[, instance]] = ofType('AWS::RDS::DBInstance') as [[string, Resource]];
    const group = resources[instance.Properties.DBParameterGroupName.Ref]!;
    expect(group.Type).toBe('AWS::RDS::DBParameterGroup');
    expect(group.Properties.Parameters['rds.force_ssl']).toBe('1');
  });

  it('lives in the Database subnets', () => {
    const [[, group]] = ofType('AWS::RDS::DBSubnetGroup') as [[string, Resource]];
    const subnetIds = group.Properties.SubnetIds.map((s: { Ref: string }) => s.Ref);
    expect(subnetIds).toHaveLength(2);
    for (const id of subnetIds) expect(id).toMatch(/DatabaseSubnet/);
  });

  it('sits behind an RDS Proxy that requires TLS and IAM auth, with the master and the app secrets', () => {
    const [[, proxy]] = ofType('AWS::RDS::DBProxy') as [[string, Resource]];
    expect(proxy.Properties.RequireTLS).toBe(true);
    expect(proxy.Properties.EngineFamily).toBe('POSTGRESQL');
    expect(proxy.Properties.Auth).toHaveLength(2);
    for (const auth of proxy.Properties.Auth) expect(auth).toMatchObject({ AuthScheme: 'SECRETS', IAMAuth: 'REQUIRED' });
    const secretRefs = proxy.Properties.Auth.map((a: { SecretArn: { Ref: string } }) => a.SecretArn.Ref);
    const appSecret = ofType('AWS::SecretsManager::Secret').find(([, s]) =>
      JSON.stringify(s.Properties.GenerateSecretString).includes('taskflow_app'),
    );
    expect(appSecret).toBeDefined();
    const attachments = secretRefs.map((r: string) => resources[r]!);
    expect(attachments.map((a: Resource) => a.Type)).toEqual(['AWS::SecretsManager::SecretTargetAttachment', 'AWS::SecretsManager::SecretTargetAttachment']);
    expect(attachments.map((a: Resource) => a.Properties.SecretId.Ref)).toContain(appSecret![0]);
  });

  it('rotates the master secret', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: ref(logicalId(stacks.data.database.masterSecret)),
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
  });
});

describe('functions', () => {
  const consumers = Object.keys(taskflow.queues).length;
  const schedules = Object.keys(taskflow.schedules).length;
  const webSocketRoutes = taskflow.websocket.routes.length;
  // The pre-traffic hook: one in each route group's stack (reads, mutations), both holding functions of the synthetic transaction.
  // And the restore test's validator (operations stack).
  const expected = taskflow.routes.length + webSocketRoutes + 2 + consumers + schedules + 2 + 1;

  it(`has one function per REST and WebSocket route, the authorizer, the migrate function, the restore validator, ${consumers} queue consumers, ${schedules} scheduled and the 2 pre-traffic hooks (${expected}), all nodejs22.x on arm64`, () => {
    const ours = ofType('AWS::Lambda::Function').filter(([, f]) => f.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'taskflow');
    expect(ours).toHaveLength(expected);
    for (const [, fn] of ours) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'taskflow',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      });
      // An explicit log group with retention, not the logRetention custom resource.
      const logGroup = resources[fn.Properties.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0);
    }
    template.resourceCountIs('Custom::LogRetention', 0);
    const ids = new Set(ours.map(([id]) => id));
    for (const route of taskflow.routes) expect(ids.has(routeFunctionId(route.operationId))).toBe(true);
    for (const fn of stacks.feed.webSocket.routeFunctions.values()) expect(ids.has(logicalId(fn))).toBe(true);
    expect(ids.has(logicalId(stacks.api.authorizerFunction))).toBe(true);
    expect(ids.has(logicalId(stacks.schema.migrations.function))).toBe(true);
    for (const consumer of Object.values(stacks.workers.consumers.consumers)) expect(ids.has(logicalId(consumer))).toBe(true);
    for (const fn of Object.values(stacks.workers.schedules.functions)) expect(ids.has(logicalId(fn))).toBe(true);
  });

  it('names each route function after its operation, with the declared description, memory and timeout', () => {
    for (const route of taskflow.routes) {
      const fn = routeFunctions(stacks).get(route.operationId)!;
      expect(fn.node.id).toBe(functionId(route));
      const { Properties } = resources[logicalId(fn)]!;
      expect(Properties.Description).toBe(route.function.description);
      expect(Properties.MemorySize).toBe(route.function.memoryMb ?? 512);
      expect(Properties.Timeout).toBe(route.function.timeoutSeconds ?? 10);
    }
  });

  it('puts route functions in the Application subnets, reaching the database through the proxy as taskflow_app', () => {
    const proxyId = logicalId(stacks.data.database.proxy);
    const clientsId = logicalId(stacks.data.database.proxyClients);
    for (const route of taskflow.routes) {
      const id = routeFunctionId(route.operationId);
      const { Properties } = resources[id]!;
      expect(envOf(id)).toMatchObject({
        DB_HOST: { 'Fn::GetAtt': [proxyId, 'Endpoint'] },
        DB_PORT: '5432',
        DB_NAME: 'taskflow',
        DB_USER: 'taskflow_app',
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      });
      expect(Properties.VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [clientsId, 'GroupId'] }]);
      for (const subnet of Properties.VpcConfig.SubnetIds) expect(subnet.Ref).toMatch(/ApplicationSubnet/);
      const policy = ofType('AWS::IAM::Policy').find(([, p]) =>
        p.Properties.Roles.some((r: { Ref: string }) => r.Ref === Properties.Role['Fn::GetAtt'][0]),
      )![1];
      const connect = policy.Properties.PolicyDocument.Statement.find((s: { Action: unknown }) => s.Action === 'rds-db:connect');
      expect(JSON.stringify(connect.Resource)).toContain('/taskflow_app');
    }
    // Only the proxy clients' group may reach the proxy, on 5432.
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [logicalId(stacks.data.database.proxy.connections.securityGroups[0]!), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [clientsId, 'GroupId'] },
      FromPort: 5432,
      ToPort: 5432,
    });
  });

  it('gives every POST/PATCH/DELETE function, and only those, the idempotency table: its name and item access', () => {
    const tableId = logicalId(stacks.data.storage.tables.idempotency);
    for (const route of taskflow.routes) {
      const id = routeFunctionId(route.operationId);
      const mutating = route.method !== 'GET';
      const role = resources[id]!.Properties.Role['Fn::GetAtt'][0];
      const statements = ofType('AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
      const onTable = statements.filter((s) => JSON.stringify(s.Resource).includes(tableId));
      if (!mutating) {
        expect(envOf(id).IDEMPOTENCY_TABLE_NAME, route.operationId).toBeUndefined();
        expect(onTable, route.operationId).toEqual([]);
        continue;
      }
      expect(envOf(id).IDEMPOTENCY_TABLE_NAME, route.operationId).toEqual(ref(tableId));
      const actions = onTable.flatMap((s) => s.Action);
      for (const action of ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
        expect(actions, `${route.operationId} ${action}`).toContain(action);
      }
    }
  });

  it('gives every JWT route function, and no other function, the rate-limit table: its name, GetItem and UpdateItem only', () => {
    const tableId = logicalId(stacks.data.storage.tables.rateLimits);
    const statementsOn = (id: string, table: string) => {
      const role = resources[id]!.Properties.Role['Fn::GetAtt'][0];
      return ofType('AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
        .filter((s) => JSON.stringify(s.Resource).includes(table));
    };
    const statementsOf = (id: string) => statementsOn(id, tableId);
    const integrationStatementsOf = (id: string) => statementsOn(id, logicalId(stacks.data.storage.tables.integrations));
    expect(tableNameVariable('rateLimits')).toBe('RATELIMITS_TABLE_NAME'); // what functions/shared/rate-limit.ts reads
    for (const route of taskflow.routes) {
      const id = routeFunctionId(route.operationId);
      // Every JWT answer names the degraded integrations (functions/shared/degraded.ts), mutations included:
      // it reads the breakers' table, and never writes it.
      if (route.auth === 'jwt') {
        expect(envOf(id)[tableNameVariable('integrations')], route.operationId).toBeDefined();
        const onIntegrations = integrationStatementsOf(id).flatMap((statement) => [statement.Action].flat());
        expect(onIntegrations.length, route.operationId).toBeGreaterThan(0);
        expect(onIntegrations.filter((action) => /Put|Update|Delete|Write/.test(action)), route.operationId).toEqual([]);
      }
      if (route.auth !== 'jwt') {
        expect(envOf(id).RATELIMITS_TABLE_NAME, route.operationId).toBeUndefined();
        expect(statementsOf(id), route.operationId).toEqual([]);
        continue;
      }
      expect(route.function.needs, route.operationId).toContain('rate-limits');
      expect(envOf(id).RATELIMITS_TABLE_NAME, route.operationId).toEqual(ref(tableId));
      expect(statementsOf(id).flatMap((s) => s.Action).sort(), route.operationId).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    }
    const others = [stacks.api.authorizerFunction, stacks.schema.migrations.function, ...Object.values(stacks.workers.consumers.consumers), ...Object.values(stacks.workers.schedules.functions)];
    for (const fn of others) {
      expect(envOf(logicalId(fn)).RATELIMITS_TABLE_NAME).toBeUndefined();
      expect(statementsOf(logicalId(fn))).toEqual([]);
    }
  });

  it('alarms when more than 5 % of requests are refused by the rate limits, and when their checks keep failing open', () => {
    const refused = resources[logicalId(stacks.operations.rateLimits.refusedAlarm)]!.Properties;
    expect(refused).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2, TreatMissingData: 'notBreaching' });
    const metrics = (refused.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: { Name: string }[] } } }[])
      .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
    expect(metrics.map((m) => `${m.Namespace}/${m.MetricName}`).sort()).toEqual(['AWS/ApiGateway/Count', 'TaskFlow/RequestsRateLimited']);
    expect(metrics.find((m) => m.MetricName === 'Count')!.Dimensions.map((d) => d.Name).sort()).toEqual(['ApiName', 'Stage']);
    const failedOpen = resources[logicalId(stacks.operations.rateLimits.failedOpenAlarm)]!.Properties;
    expect(failedOpen).toMatchObject({
      MetricName: 'RateLimitChecksFailedOpen', Namespace: 'TaskFlow', Dimensions: [{ Name: 'service', Value: 'taskflow' }],
      Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2,
    });
  });

  it('alarms when an organization passes 80 % of a plan quota, on the metric the create handlers emit', () => {
    const alarm = resources[logicalId(stacks.operations.quotaThreshold.alarm)]!.Properties;
    expect(alarm).toMatchObject({
      MetricName: 'QuotaThresholdCrossed', Namespace: 'TaskFlow', Dimensions: [{ Name: 'service', Value: 'taskflow' }],
      Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching',
    });
  });

  it('alarms when more than 1 % of task updates conflict, on the metrics the update handler emits', () => {
    const alarm = resources[logicalId(stacks.operations.conflictRate.alarm)]!.Properties;
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2 });
    const metricNames = (alarm.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: unknown } } }[])
      .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
    expect(metricNames.map((m) => m.MetricName).sort()).toEqual(['TaskUpdateConflicts', 'TaskUpdates']);
    for (const metric of metricNames) {
      expect(metric.Namespace).toBe('TaskFlow');
      expect(metric.Dimensions).toEqual([{ Name: 'service', Value: 'taskflow' }]);
    }
  });

  it('keeps the authorizer out of the VPC, configured from the Auth parameters', () => {
    const id = logicalId(stacks.api.authorizerFunction);
    expect(resources[id]!.Properties.VpcConfig).toBeUndefined();
    expect(envOf(id)).toMatchObject({
      AUTH_ISSUER: ref('AuthIssuer'),
      AUTH_AUDIENCE: ref('AuthAudience'),
      // Unset when the parameter is empty: the authorizer then derives the JWKS URL from the issuer.
      AUTH_JWKS_URL: { 'Fn::If': ['HasAuthJwksUrl', ref('AuthJwksUrl'), ref('AWS::NoValue')] },
      AUTH_ROLE_CLAIM: ref('AuthRoleClaim'),
    });
    expect(envOf(id).DB_HOST).toBeUndefined();
    const parameters = template.toJSON().Parameters;
    expect(parameters.AuthIssuer.Default).toBeUndefined();
    expect(parameters.AuthAudience.Default).toBeUndefined();
    expect(parameters.AuthJwksUrl.Default).toBe('');
    expect(parameters.AuthRoleClaim.Default).toBe('role');
  });

  it('gives the migrate function the instance endpoint and read access to both secrets', () => {
    const id = logicalId(stacks.schema.migrations.function);
    const instanceId = logicalId(stacks.data.database.instance);
    expect(resources[id]!.Properties.Timeout).toBe(taskflow.functions.migrate.timeoutSeconds);
    expect(resources[id]!.Properties.VpcConfig.SecurityGroupIds).toEqual([
      { 'Fn::GetAtt': [logicalId(stacks.data.database.adminClients), 'GroupId'] },
    ]);
    const env = envOf(id);
    expect(env).toMatchObject({
      DB_HOST: { 'Fn::GetAtt': [instanceId, 'Endpoint.Address'] },
      DB_NAME: 'taskflow',
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    });
    expect(env.DB_USER).toBeUndefined();
    // The handler reads the secrets through the AWS Parameters and Secrets Lambda Extension (arm64 layer), uncached.
    expect(env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT).toBeDefined();
    expect(env.PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED).toBe('false');
    const layers = resources[id]!.Properties.Layers as { 'Fn::FindInMap': [string, unknown, string] }[];
    expect(layers).toHaveLength(1);
    const [mapName, , key] = layers[0]!['Fn::FindInMap'];
    const layerArns = Object.values(template.toJSON().Mappings[mapName] as Record<string, Record<string, string>>).map((r) => r[key]);
    expect(layerArns.length).toBeGreaterThan(10);
    for (const arn of layerArns) expect(arn).toMatch(/:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/);
    const role = resources[id]!.Properties.Role['Fn::GetAtt'][0];
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const readable = statements
      .filter((s: { Action: string[] }) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
      .flatMap((s: { Resource: unknown }) => [s.Resource].flat());
    expect(readable).toEqual(expect.arrayContaining([env.DB_MASTER_SECRET_ARN, env.DB_APP_SECRET_ARN]));
    expect(env.DB_MASTER_SECRET_ARN).not.toEqual(env.DB_APP_SECRET_ARN);
    // It may reach the instance directly (not only the proxy).
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(stacks.data.database.adminClients), 'GroupId'] },
      FromPort: { 'Fn::GetAtt': [instanceId, 'Endpoint.Port'] },
    });
  });

  it('bundles the migrate function as ESM with a require shim, and the SQL migrations beside it', () => {
    const code = resources[logicalId(stacks.schema.migrations.function)]!.Properties.Code;
    const folder = assetFolder(synthesized.assembly, stacks.schema, code.S3Key);
    const bundle = readFileSync(path.join(folder, 'index.mjs'), 'utf8');
    expect(bundle.startsWith("import { createRequire } from 'module'; const require = createRequire(import.meta.url);")).toBe(true);
    expect(existsSync(path.join(folder, 'index.mjs.map'))).toBe(true);
    const shipped = path.join(folder, 'migrations', '0001_core.sql');
    expect(existsSync(shipped)).toBe(true);
    expect(readFileSync(shipped, 'utf8')).toBe(readFileSync(path.join(PROJECT_ROOT, 'functions/db/migrations/0001_core.sql'), 'utf8'));
  });
});

describe('REST API', () => {
  /** `/tasks/{taskId}` for every AWS::ApiGateway::Resource, from PathPart and ParentId. */
  function resourcePaths(): Map<string, string> {
    const parts = new Map(ofType('AWS::ApiGateway::Resource').map(([id, r]) => [id, r.Properties] as const));
    const pathOf = (id: string): string => {
      const { PathPart, ParentId } = parts.get(id)!;
      const parent = ParentId.Ref ? pathOf(ParentId.Ref) : '';
      return `${parent}/${PathPart}`;
    };
    return new Map([...parts.keys()].map((id) => [id, pathOf(id)]));
  }

  it('has every declared route as a method: the JWT authorizer on all of them but GET /health', () => {
    const paths = resourcePaths();
    const methods = ofType('AWS::ApiGateway::Method').map(([, m]) => m.Properties);
    const [[authorizerId]] = ofType('AWS::ApiGateway::Authorizer') as [[string, Resource]];
    for (const route of taskflow.routes) {
      const method = methods.find(
        (m) => m.HttpMethod === route.method && m.ResourceId.Ref && paths.get(m.ResourceId.Ref) === route.path,
      );
      expect(method, `${route.method} ${route.path}`).toBeDefined();
      expect(method!.OperationName).toBe(route.operationId);
      if (route.auth === 'jwt') {
        expect(method!.AuthorizationType).toBe('CUSTOM');
        expect(method!.AuthorizerId).toEqual(ref(authorizerId));
      } else {
        expect(method!.AuthorizationType).toBe('NONE');
        expect(method!.AuthorizerId).toBeUndefined();
      }
      expect(method!.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' });
      // The function's live alias (canary deploys), never $LATEST.
      expect(JSON.stringify(method!.Integration.Uri)).toContain(`"${liveAliasId(stacks, routeFunctions(stacks).get(route.operationId)!)}"`);
    }
    const publicRoutes = methods.filter((m) => m.HttpMethod !== 'OPTIONS' && m.AuthorizationType !== 'CUSTOM');
    expect(publicRoutes).toHaveLength(1);
    expect(paths.get(publicRoutes[0]!.ResourceId.Ref)).toBe('/health');
    expect(methods.filter((m) => m.HttpMethod !== 'OPTIONS')).toHaveLength(taskflow.routes.length);
  });

  it('uses a TOKEN authorizer on the Authorization header, cached 5 minutes', () => {
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'TOKEN',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: 300,
    });
    const [[, authorizer]] = ofType('AWS::ApiGateway::Authorizer') as [[string, Resource]];
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(`"${liveAliasId(stacks, stacks.api.authorizerFunction)}"`);
  });

  it('deploys stage v1 with JSON access logs, execution logs, metrics, X-Ray and throttling', () => {
    const [[, stage]] = ofType('AWS::ApiGateway::Stage') as [[string, Resource]];
    expect(stage.Properties.StageName).toBe('v1');
    expect(stage.Properties.TracingEnabled).toBe(true);
    const format = stage.Properties.AccessLogSetting.Format as string;
    const line = JSON.parse(format.replaceAll(/\$context\.[\w.]+/g, 'x'));
    expect(format).toContain('"requestId":"$context.requestId"');
    expect(Object.keys(line)).toEqual(expect.arrayContaining(['requestId', 'status', 'httpMethod', 'resourcePath']));
    expect(resources[stage.Properties.AccessLogSetting.DestinationArn['Fn::GetAtt'][0]]!.Type).toBe('AWS::Logs::LogGroup');
    expect(stage.Properties.MethodSettings).toContainEqual(
      expect.objectContaining({
        HttpMethod: '*',
        ResourcePath: '/*',
        LoggingLevel: expect.stringMatching(/^(ERROR|INFO)$/),
        MetricsEnabled: true,
        // The outer guard: above one organization's limits (17 a second, bursts of 1,000), see lib/constructs/api.ts.
        ThrottlingRateLimit: 500,
        ThrottlingBurstLimit: 1_000,
      }),
    );
    // Execution logging needs the account-level CloudWatch role.
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
  });

  it('answers gateway-made errors as problem+json with a stable code and X-Request-Id', () => {
    const responses = new Map(ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.Properties.ResponseType, r.Properties]));
    const expectations: [string, string | undefined, string][] = [
      ['UNAUTHORIZED', '401', 'UNAUTHORIZED'],
      ['ACCESS_DENIED', '403', 'FORBIDDEN'],
      ['DEFAULT_4XX', undefined, 'BAD_REQUEST'],
      ['DEFAULT_5XX', undefined, 'INTERNAL_ERROR'],
      // Unknown routes are 404s (the REST API's own answer is a 403 "Missing Authentication Token").
      ['MISSING_AUTHENTICATION_TOKEN', '404', 'NOT_FOUND'],
      ['REQUEST_TOO_LARGE', '413', 'PAYLOAD_TOO_LARGE'],
      ['THROTTLED', '429', 'TOO_MANY_REQUESTS'],
    ];
    for (const [type, status, code] of expectations) {
      const response = responses.get(type);
      expect(response, type).toBeDefined();
      expect(response!.StatusCode).toBe(status);
      expect(response!.ResponseParameters).toMatchObject({
        'gatewayresponse.header.Content-Type': "'application/problem+json'",
        'gatewayresponse.header.X-Request-Id': 'context.requestId',
      });
      // $context.error.messageString is rendered as a quoted JSON string.
      const body = JSON.parse(
        (response!.ResponseTemplates['application/json'] as string)
          .replaceAll('$context.error.messageString', '"a message"')
          .replaceAll('$context.requestId', 'req-1'),
      );
      expect(body).toMatchObject({ code, requestId: 'req-1', type: `urn:taskflow:problem:${code.toLowerCase().replaceAll('_', '-')}` });
      expect(typeof body.title).toBe('string');
      if (status) expect(body.status).toBe(Number(status));
      else expect(body.status).toBeUndefined(); // the gateway's status varies within DEFAULT_4XX/5XX
    }
    expect(responses.get('THROTTLED')!.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
  });

  it('answers CORS preflights for the frontend headers', () => {
    const options = ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties.HttpMethod === 'OPTIONS');
    expect(options.length).toBeGreaterThan(0);
    for (const [, method] of options) {
      const headers = method.Properties.Integration.IntegrationResponses[0].ResponseParameters;
      const allowed = headers['method.response.header.Access-Control-Allow-Headers'] as string;
      for (const header of ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'X-Request-Id']) {
        expect(allowed).toContain(header);
      }
    }
  });
});

describe('CORS for a page on another origin', () => {
  it('allows the W3C trace context headers (traceparent, tracestate) in every preflight', () => {
    const options = ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties.HttpMethod === 'OPTIONS');
    for (const [, method] of options) {
      const allowed = method.Properties.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Headers'] as string;
      expect(allowed).toContain('traceparent');
      expect(allowed).toContain('tracestate');
    }
  });

  it('answers the preflight of a path the API does not have (a {proxy+} with OPTIONS only; any other method there is the 404 problem)', () => {
    const rootId = ofType('AWS::ApiGateway::RestApi')[0]![0];
    const [proxy, ...others] = ofType('AWS::ApiGateway::Resource').filter(
      ([, r]) => r.Properties.PathPart === '{proxy+}' && JSON.stringify(r.Properties.ParentId) === JSON.stringify({ 'Fn::GetAtt': [rootId, 'RootResourceId'] }),
    );
    expect(others).toEqual([]);
    expect(proxy).toBeDefined();
    const methods = ofType('AWS::ApiGateway::Method').filter(([, m]) => JSON.stringify(m.Properties.ResourceId) === JSON.stringify({ Ref: proxy![0] }));
    expect(methods.map(([, m]) => m.Properties.HttpMethod)).toEqual(['OPTIONS']);
    expect(methods[0]![1].Properties.Integration).toMatchObject({ Type: 'MOCK' });
  });
});

describe('storage', () => {
  it('declares each table on demand, with its string keys, TTL and point-in-time recovery, retained', () => {
    for (const [name, declaration] of Object.entries(taskflow.tables) as [string, TableDeclaration][]) {
      const id = logicalId(stacks.data.storage.tables[name as keyof typeof taskflow.tables]);
      const table = resources[id]!;
      const keys = [declaration.partitionKey, ...(declaration.sortKey ? [declaration.sortKey] : [])];
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: keys.map((key, i) => ({ AttributeName: key, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        AttributeDefinitions: keys.map((key) => ({ AttributeName: key, AttributeType: 'S' })),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
      expect(table.DeletionPolicy).toBe('Retain');
    }
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
  });

  it('keeps files in a versioned, encrypted, private, access-logged bucket that refuses plain HTTP', () => {
    const bucketId = logicalId(stacks.data.storage.filesBucket);
    const bucket = resources[bucketId]!;
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toMatch(/AES256|aws:kms/);
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.LoggingConfiguration.DestinationBucketName).toEqual(ref(logicalId(stacks.data.storage.accessLogsBucket)));
    expect(bucket.DeletionPolicy).toBe('Retain');
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(bucketId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('outputs the API and WebSocket URLs, the files bucket, the tables, the queues, the integration secrets and the alarm topic', () => {
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      'AlarmTopicArn',
      'ApiUrl',
      'BroadcastDeadLetterQueueUrl',
      'BroadcastQueueUrl',
      'ConnectionsTableName',
      'DeletionsDeadLetterQueueUrl',
      'DeletionsQueueUrl',
      'EmailDeadLetterQueueUrl',
      'EmailQueueUrl',
      'FeedFanoutDeadLetterQueueUrl',
      'FeedFanoutQueueUrl',
      'FeedProbeCredentialsSecretArn',
      'FilesBucketName',
      'GitHubTokenSecretArn',
      'GithubDeadLetterQueueUrl',
      'GithubQueueUrl',
      'GoogleCalendarCredentialsSecretArn',
      'GoogleCalendarDeadLetterQueueUrl',
      'GoogleCalendarQueueUrl',
      'IdempotencyTableName',
      'IntegrationsTableName',
      'NotificationsDeadLetterQueueUrl',
      'NotificationsQueueUrl',
      'RateLimitsTableName',
      'SendGridApiKeySecretArn',
      'SlackBotTokenSecretArn',
      'SlackDeadLetterQueueUrl',
      'SlackQueueUrl',
      'SyncResultsDeadLetterQueueUrl',
      'SyncResultsQueueUrl',
      'WebSocketManagementUrl',
      'WebSocketUrl',
    ]);
    expect(outputs.FilesBucketName.Value).toEqual(ref(logicalId(stacks.data.storage.filesBucket)));
    expect(outputs.IdempotencyTableName.Value).toEqual(ref(logicalId(stacks.data.storage.tables.idempotency)));
    expect(outputs.RateLimitsTableName.Value).toEqual(ref(logicalId(stacks.data.storage.tables.rateLimits)));
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain('execute-api');
  });
});

describe('migrations', () => {
  it('run in a trigger on every change of the migrate function, after the database and before every other function that may read it', () => {
    const triggers = ofType('Custom::Trigger');
    expect(triggers).toHaveLength(1);
    const [[, trigger]] = triggers as [[string, Resource]];
    expect(trigger.Properties.ExecuteOnHandlerChange).toBe(true);
    expect(trigger.Properties.InvocationType).toBe('RequestResponse');
    // The trigger invokes the current version of the migrate function, so a new bundle runs it again.
    const version = resources[trigger.Properties.HandlerArn.Ref]!;
    expect(version.Type).toBe('AWS::Lambda::Version');
    expect(version.Properties.FunctionName).toEqual(ref(logicalId(stacks.schema.migrations.function)));
    expect(Number(trigger.Properties.Timeout)).toBeGreaterThan(taskflow.functions.migrate.timeoutSeconds * 1000);

    // After the database: the schema stack deploys once the data stack (database, proxy, secrets, endpoints) has.
    const dependsOn = (stack: Stack, on: Stack): boolean => stack.dependencies.some((direct) => direct === on || dependsOn(direct, on));
    expect(dependsOn(stacks.schema, stacks.data)).toBe(true);
    expect(Stack.of(stacks.schema.migrations.trigger)).toBe(stacks.schema);
    // Before every other function: each stack that holds one deploys only once the schema stack (the trigger) has.
    for (const fn of [
      ...routeFunctions(stacks).values(),
      stacks.api.authorizerFunction,
      ...stacks.feed.webSocket.routeFunctions.values(),
      ...Object.values(stacks.workers.consumers.consumers),
      ...Object.values(stacks.workers.schedules.functions),
    ]) {
      expect(dependsOn(Stack.of(fn), stacks.schema), fn.node.path).toBe(true);
    }
    expect(dependsOn(stacks.schema, stacks.schema)).toBe(false);
  });
});
