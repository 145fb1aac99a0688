// `npm start`: TaskFlow locally on embedded defaults (see README). Ctrl-C, or SIGINT or SIGTERM to the pid of
// `npm start` (which execs node, so npm hands the signal straight to this process), stops it cleanly, even while it
// is still starting.
import './quiet-sdk-node-warning';
import { resolve } from 'node:path';
import { taskflow } from '../lib/app';
import { startLocalRuntime } from '../lib/local/runtime';

const port = Number(process.env.PORT ?? 3000);
const sqsPort = Number(process.env.SQS_PORT ?? 9324);
const s3Port = Number(process.env.S3_PORT ?? 4569);
const sandboxPort = Number(process.env.SANDBOX_PORT ?? 3002);
const wsPort = Number(process.env.WS_PORT ?? 3001);
const dataDir = resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow');
const starting = startLocalRuntime({
  port,
  sqsPort,
  s3Port,
  sandboxPort,
  wsPort,
  dataDir,
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  log: (line) => console.error(line),
}).catch((error: NodeJS.ErrnoException & { port?: number }) => {
  if (error.code === 'EADDRINUSE') {
    const variable =
      error.port === sqsPort ? 'SQS_PORT'
      : error.port === s3Port ? 'S3_PORT'
      : error.port === sandboxPort ? 'SANDBOX_PORT'
      : error.port === wsPort ? 'WS_PORT'
      : 'PORT';
    console.error(`Port ${error.port ?? port} is in use: set ${variable} to another one (0 picks a free port).`);
  } else {
    console.error(error);
  }
  process.exit(1);
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping TaskFlow…');
    starting
      .then((runtime) => runtime.stop())
      .then(() => {
        console.log('Stopped.');
        process.exit(0);
      })
      .catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
  });
}

const runtime = await starting;
const token = await runtime.issuer.mint({ org: 'org_local', user: 'user_local', role: 'admin', name: 'Local Developer', email: 'developer@taskflow.local' });

if (!stopping) console.log(`
TaskFlow is running at ${runtime.url}
  database    ${runtime.embeddedDatabase ? `embedded PGlite in ${dataDir}/pgdata` : 'DATABASE_URL'}${runtime.appliedMigrations.length ? ` (applied ${runtime.appliedMigrations.join(', ')})` : ''}
  DynamoDB    dynalite in ${dataDir}/dynamodb (idempotency records)
  SQS         ${runtime.sqs.endpoint} (in memory: queued messages are lost on restart; queues ${Object.keys(taskflow.queues).join(', ')}, each with a DLQ)
  S3          ${runtime.s3.endpoint}/${runtime.s3.bucket} (s3rver, files in ${dataDir}/s3; SigV4 and presigned POST policies enforced)
  Slack       ${runtime.sandboxes.urls.slack} (sandbox)
  SendGrid    ${runtime.sandboxes.urls.sendgrid} (sandbox)
  GitHub      ${runtime.sandboxes.urls.github} (sandbox; add issues: POST ${runtime.sandboxes.url}/_sandbox/github/repos/{owner}/{repo}/issues)
  Calendar    ${runtime.sandboxes.urls.googleCalendar} (sandbox)
  WebSocket   ${runtime.websocketUrl}/?token=… (activity feed, docs/feed.md; @connections at ${runtime.websocket.managementUrl}/@connections/{id})
  sandbox     ${runtime.sandboxes.url}/_sandbox/calls (recorded calls), PUT ${runtime.sandboxes.url}/_sandbox/faults/{slack|sendgrid|github|googleCalendar} (faults)
  schedules   ${Object.entries(taskflow.schedules).map(([name, s]) => `${name} every ${s.everyMinutes} min`).join(', ')}; run one now: curl -X POST ${runtime.url}/_local/schedules/{name}
  SLOs        npm run slo (compliance and error budget left of what this runtime served; JSON at ${runtime.url}/_local/slo)
  OpenAPI     ${runtime.url}/openapi.json
  health      ${runtime.url}/health

Dev token (org org_local, user user_local; another: npm run --silent token -- --org ORG --user USER):
${token}

Try:
  TOKEN=${token}
  curl -s -X POST ${runtime.url}/projects -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Launch"}'
  curl -s ${runtime.url}/projects -H "Authorization: Bearer $TOKEN"
  npx wscat -c "${runtime.websocketUrl}/?token=$TOKEN"    then send {"action":"subscribe"}

Press Ctrl-C to stop.
`);

