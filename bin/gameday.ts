// `npm run gameday [-- --short] [--scenario NAME…] [--json]`: the review's GameDay scenarios (M5) against a local
// runtime of its own under steady load: the database away and back, Slack down, the DynamoDB emulator away, a
// deploy (restart) in the middle of traffic. Per scenario it prints the SLOs' compliance during the fault, the time
// to recover after it, and whether anything acknowledged was lost or done twice. docs/gameday.md explains the figures.
// The runtime's data folder is a temporary one; its database PGlite there, or DATABASE_URL (a scratch server: the
// scenarios write organizations of their own into it). Exit codes: 0 every scenario intact, 1 one was not, 2 usage.
import './quiet-sdk-node-warning';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine, usageError } from './command-line';
import { formatResult, FULL, runScenario, SHORT, type ScenarioResult } from '../lib/gameday/run';
import { scenarios } from '../lib/gameday/scenarios';
import { startLocalRuntime } from '../lib/local/runtime';

const all = scenarios();
const USAGE = `Usage: npm run gameday -- [--short] [--scenario NAME]… [--json]

  --short           The CI version: shorter phases and lighter load (about a minute and a half in all)
  --scenario NAME   Only these (repeatable): ${all.map((s) => s.name).join(', ')}
  --json            The figures as JSON instead of text`;

const { values: options } = parseCommandLine(USAGE, { options: { short: { type: 'boolean' }, scenario: { type: 'string', multiple: true }, json: { type: 'boolean' } } });
const unknown = (options.scenario ?? []).filter((name) => !all.some((s) => s.name === name));
if (unknown.length > 0) usageError(USAGE, `unknown scenario ${unknown.join(', ')}`);
const chosen = options.scenario ? all.filter((s) => options.scenario!.includes(s.name)) : all;
const timings = options.short ? SHORT : FULL;
const log = (line: string) => void (!options.json && console.error(`${new Date().toISOString()} ${line}`));

// The functions' log lines would bury the figures: silent unless POWERTOOLS_LOG_LEVEL asks for them.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-gameday-'));
// A rehearsal compresses time: a failed message is back within seconds (not the declared minutes), and one user's
// load passes the per-user rate limits it would meet in AWS (they are not what is rehearsed here).
const runtime = await startLocalRuntime({
  port: 0,
  dataDir,
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  visibilityTimeoutSeconds: 10,
  rateLimitScale: 10,
  schedules: ['outboxRelay'],
});
const results: ScenarioResult[] = [];
try {
  for (const scenario of chosen) {
    const result = await runScenario(runtime, scenario, timings, log);
    results.push(result);
    if (!options.json) console.log(`${formatResult(result)}\n`);
  }
} finally {
  await runtime.stop();
  await rm(dataDir, { recursive: true, force: true });
}
if (options.json) console.log(JSON.stringify(results, null, 2));
process.exit(results.every((r) => r.intact) ? 0 : 1);
