// `npm start`: TaskFlow locally on embedded defaults (see README). Ctrl-C stops it cleanly.
import { resolve } from 'node:path';
import { startLocalRuntime } from '../lib/local/runtime';

const port = Number(process.env.PORT ?? 3000);
const dataDir = resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow');
const runtime = await startLocalRuntime({
  port,
  dataDir,
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  log: (line) => console.error(line),
}).catch((error: NodeJS.ErrnoException) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is in use: set PORT to another one.` : error);
  process.exit(1);
});
const token = await runtime.issuer.mint({ org: 'org_local', user: 'user_local', role: 'admin', name: 'Local Developer' });

console.log(`
TaskFlow is running at ${runtime.url}
  database    ${runtime.embeddedDatabase ? `embedded PGlite in ${dataDir}/pgdata` : 'DATABASE_URL'}${runtime.appliedMigrations.length ? ` (applied ${runtime.appliedMigrations.join(', ')})` : ''}
  DynamoDB    dynalite in ${dataDir}/dynamodb (idempotency records)
  OpenAPI     ${runtime.url}/openapi.json
  health      ${runtime.url}/health

Dev token (org org_local, user user_local; another: npm run --silent token -- --org ORG --user USER):
${token}

Try:
  TOKEN=${token}
  curl -s -X POST ${runtime.url}/projects -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Launch"}'
  curl -s ${runtime.url}/projects -H "Authorization: Bearer $TOKEN"

Press Ctrl-C to stop.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping TaskFlow…');
    runtime
      .stop()
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
