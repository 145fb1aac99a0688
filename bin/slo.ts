// `npm run slo [-- --url URL | --aws]`: each SLO's compliance and error budget left (lib/app.ts, `slos`).
// By default from the running local runtime (`npm start`; it counts the SLIs of what it served since it started, at
// GET /_local/slo); with --aws from CloudWatch over each SLO's window (credentials and AWS_REGION in the environment).
// Exit codes: 0 printed, 1 the source could not be read, 2 a usage error.
import './quiet-sdk-node-warning';
import { resolve } from 'node:path';
import { parseCommandLine, usageError } from './command-line';
import { taskflow } from '../lib/app';
import { runningEndpoints } from '../lib/local/endpoints';
import { SLO_PATH } from '../lib/local/slis';
import { cloudWatchStatuses } from '../lib/slo/cloudwatch';
import { formatReport, type SloStatus } from '../lib/slo/report';

const USAGE = `Usage: npm run slo -- [--url URL | --aws] [--json]

  (none)      The running local runtime's SLOs: the npm start recorded in $TASKFLOW_DATA_DIR/endpoints.json
              (default ./.taskflow), else http://localhost:$PORT (default 3000)
  --url URL   The local runtime at URL
  --aws       CloudWatch's, over each SLO's window (AWS_REGION and credentials from the environment, e.g.
              eval "$(aws configure export-credentials --format env)")
  --json      The figures as JSON instead of a table`;

const { values: options } = parseCommandLine(USAGE, { options: { url: { type: 'string' }, aws: { type: 'boolean' }, json: { type: 'boolean' } } });
if (options.aws && options.url) usageError(USAGE, '--aws and --url are exclusive');

async function localStatuses(): Promise<{ statuses: SloStatus[]; source: string }> {
  const dataDir = resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow');
  const base = options.url ?? (await runningEndpoints(dataDir))?.api ?? `http://localhost:${process.env.PORT ?? 3000}`;
  const url = new URL(SLO_PATH, base);
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const { slos } = (await response.json()) as { slos: SloStatus[] };
  return { statuses: slos, source: `the local runtime at ${base} (since it started)` };
}

try {
  const { statuses, source } = options.aws
    ? { statuses: await cloudWatchStatuses(taskflow.slos), source: `CloudWatch (${process.env.AWS_REGION}), each over its window` }
    : await localStatuses();
  console.log(options.json ? JSON.stringify({ source, slos: statuses }, null, 2) : formatReport(statuses, source));
} catch (error) {
  console.error(`Could not read the SLOs: ${(error as Error).message}${options.aws ? '' : ' (is `npm start` running?)'}`);
  process.exit(1);
}
