import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { SYNTHETIC_ORGANIZATION, syntheticProjectId } from '../../functions/domain/synthetic-transaction';
import type { LifecycleHookEvent } from '../../functions/workers/pre-traffic-hook';
import { taskflow } from '../../lib/app';
import { localHandler } from '../../lib/local/functions';
import { invokeRoute } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';

// The canary's pre-traffic hook against the local runtime: CodeDeploy is a fake on loopback that names the version
// being deployed and records what the hook reports; the route functions are the runtime's, through its Lambda Invoke
// API, behind a proxy that can make the deployed version faulty. A version whose synthetic transaction fails is not
// shifted: the hook reports Failed; one that passes, Succeeded; and it reports even when it fails itself.

let runtime: LocalRuntime;
let dataDir: string;
let codeDeploy: Server;
let lambdaProxy: Server;
/** What the fake CodeDeploy received, in order. */
let calls: { target: string; body: Record<string, unknown> }[] = [];
/** The AppSpec the fake CodeDeploy gives for the deployment, or an error it answers with. */
let deployment: { appSpec: string } | { error: number } = { appSpec: '' };
/** `Name:version` the Lambda proxy answers for as a broken version (500 from the handler), instead of the runtime. */
let faulty: string | undefined;

const listen = (server: Server) => new Promise<string>((done) => server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
const readBody = (req: import('node:http').IncomingMessage) =>
  new Promise<string>((done) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
  });
const appSpec = (name: string, version: string) =>
  JSON.stringify({ version: 0.0, Resources: [{ [name]: { Type: 'AWS::Lambda::Function', Properties: { Name: name, Alias: 'live', CurrentVersion: '6', TargetVersion: version } } }] });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-hook-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false });
  codeDeploy = createServer(async (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '').split('.').pop()!;
    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    calls.push({ target, body });
    const answer = (status: number, payload: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    if (target === 'GetDeployment') {
      if ('error' in deployment) return answer(deployment.error, { __type: 'InternalFailure', message: 'CodeDeploy is down' });
      return answer(200, { deploymentInfo: { deploymentId: body.deploymentId, revision: { revisionType: 'AppSpecContent', appSpecContent: { content: deployment.appSpec } } } });
    }
    if (target === 'PutLifecycleEventHookExecutionStatus') return answer(200, { lifecycleEventHookExecutionId: body.lifecycleEventHookExecutionId });
    answer(400, { __type: 'UnknownOperationException' });
  });
  const runtimeUrl = new URL(runtime.services.lambda.endpoint);
  lambdaProxy = createServer(async (req, res) => {
    const body = await readBody(req);
    const functionName = decodeURIComponent(/functions\/([^/]+)\/invocations/.exec(req.url ?? '')?.[1] ?? '');
    if (functionName === faulty) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ statusCode: 500, body: JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500 }) }));
    }
    const forwarded = httpRequest({ host: runtimeUrl.hostname, port: runtimeUrl.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.end(body);
  });
  process.env.AWS_ENDPOINT_URL_CODEDEPLOY = await listen(codeDeploy);
  const proxyUrl = await listen(lambdaProxy);
  hook = localHandler<LifecycleHookEvent, { status: string }>('PreTrafficHook', taskflow.functions.preTrafficHook, { ...runtime.services, lambda: { endpoint: proxyUrl } });
});

afterEach(() => {
  calls = [];
  faulty = undefined;
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_CODEDEPLOY;
  await new Promise((done) => codeDeploy?.close(done));
  await new Promise((done) => lambdaProxy?.close(done));
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

let hook: (event: LifecycleHookEvent, context: ReturnType<typeof lambdaContext>) => Promise<{ status: string }>;
const runHook = (id: string) => hook({ DeploymentId: `d-${id}`, LifecycleEventHookExecutionId: `hook-${id}` }, lambdaContext('PreTrafficHook', 180_000));
const reported = () => calls.filter((call) => call.target === 'PutLifecycleEventHookExecutionStatus').map((call) => call.body);
/** The synthetic organization's tasks left in its project: the transaction removes what it made. */
const tasksLeft = async () => {
  const page = await invokeRoute(taskflow.routes.find((route) => route.operationId === 'listTasks')!, { orgId: SYNTHETIC_ORGANIZATION, userId: 'observer' }, { params: { projectId: syntheticProjectId(SYNTHETIC_ORGANIZATION) } });
  return page.status === 404 ? [] : (page.body.items as unknown[]);
};

describe('the pre-traffic hook', () => {
  it('reports Succeeded when the synthetic transaction passes against the new version, and leaves nothing behind', async () => {
    deployment = { appSpec: appSpec('UpdateTask', '7') };
    await expect(runHook('pass')).resolves.toEqual({ status: 'Succeeded' });
    expect(calls.map((call) => call.target)).toEqual(['GetDeployment', 'PutLifecycleEventHookExecutionStatus']);
    expect(reported()).toEqual([{ deploymentId: 'd-pass', lifecycleEventHookExecutionId: 'hook-pass', status: 'Succeeded' }]);
    expect(await tasksLeft()).toEqual([]);
  }, 60_000);

  it('reports Failed when the new version breaks the transaction (the alias is not shifted), and still cleans up', async () => {
    deployment = { appSpec: appSpec('UpdateTask', '7') };
    faulty = 'UpdateTask:7';
    await expect(runHook('faulty')).resolves.toEqual({ status: 'Failed' });
    expect(reported()).toEqual([{ deploymentId: 'd-faulty', lifecycleEventHookExecutionId: 'hook-faulty', status: 'Failed' }]);
    expect(await tasksLeft()).toEqual([]);
  }, 60_000);

  it('invokes the deployed function at its new version, the others at their live alias', async () => {
    // The faulty version is another function's: this deployment does not exercise it.
    deployment = { appSpec: appSpec('CreateComment', '3') };
    faulty = 'UpdateTask:7';
    await expect(runHook('other')).resolves.toEqual({ status: 'Succeeded' });
    faulty = 'CreateComment:3';
    await expect(runHook('comment')).resolves.toEqual({ status: 'Failed' });
  }, 60_000);

  it('reports Failed when it fails itself (CodeDeploy does not answer GetDeployment), rather than never', async () => {
    deployment = { error: 500 };
    await expect(runHook('broken')).resolves.toEqual({ status: 'Failed' });
    expect(reported()).toEqual([{ deploymentId: 'd-broken', lifecycleEventHookExecutionId: 'hook-broken', status: 'Failed' }]);
  }, 60_000);
});
