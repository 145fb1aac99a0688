// `npm run drill`: the restore drill (review M9) on this machine, against the local runtime's data folder
// (TASKFLOW_DATA_DIR, default .taskflow; stop `npm start` first) or DATABASE_URL (its public schema is destroyed and
// restored). Prints the measured RTO and RPO, the checks, and what a client saw. `--short`: the CI length.
import './quiet-sdk-node-warning';
import { resolve } from 'node:path';
import { RECOVERY_TARGETS } from '../functions/shared/telemetry';
import { parseCommandLine } from './command-line';

const USAGE = `Usage: npm run drill [-- --short]

Destroys the local runtime's database (TASKFLOW_DATA_DIR, default .taskflow; or DATABASE_URL's public schema) while
writes run, restores it from the backup taken meanwhile, checks it and restarts the runtime on it.
  --short   the CI length: 2 writers for 2 s (default 4 for 5 s)`;
const { values: options } = parseCommandLine(USAGE, { options: { short: { type: 'boolean' } } });

// The functions' own log lines and metrics would bury the drill's (npm run trace reads them from the data folder).
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const { runDrill } = await import('../lib/local/drill');

const short = options.short === true;
const report = await runDrill({
  dataDir: resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow'),
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  writers: short ? 2 : 4,
  writeMs: short ? 2_000 : 5_000,
  log: (line) => console.log(line),
});

const failed = report.checks.filter((check) => !check.ok);
console.log(`
Restore drill
  measured RPO   ${report.rpoSeconds.toFixed(1)} s (recovery point ${report.recoveryPoint}; ${report.lostEvents} events committed after it lost)
  measured RTO   ${report.rtoSeconds.toFixed(1)} s (restore ${report.phases.restoreSeconds.toFixed(1)} s, checks ${report.phases.checksSeconds.toFixed(1)} s, restart ${report.phases.restartSeconds.toFixed(1)} s)
  backup         ${(report.backup.bytes / 1024).toFixed(0)} KB, ${report.backup.events} events, taken during ${report.writes.made} writes (${report.writes.refused} refused)
  checks         ${failed.length === 0 ? `all passed (${report.checks.map((check) => check.name).join(', ')})` : failed.map((check) => `${check.name} FAILED: ${check.problems.join('; ')}`).join('\n                 ')}
  outbox         ${report.outbox.unpublishedAtRestore} entries unpublished at the recovery point; ${report.outbox.publishedAfterRestore ? 'all published after the restore' : 'NOT all published after the restore'}
  feed client    at seq ${report.feed.clientSeqAtDisaster} when the server came back at ${report.feed.headSeqAfterRestore} (ahead by ${report.feed.clientSeqAtDisaster - report.feed.headSeqAfterRestore}); ${report.feed.resynced ? 'resynchronized' : 'did NOT resynchronize'}: ${report.feed.newEventsDelivered} of the ${report.feed.newEventsAfterRestore} events written after the restore delivered
  targets        RTO ≤ ${RECOVERY_TARGETS.rtoSeconds} s, RPO ≤ ${RECOVERY_TARGETS.rpoSeconds} s (AWS: the restore testing plan measures its own, docs/runbooks/restore.md)`);
process.exitCode = failed.length === 0 && report.outbox.publishedAfterRestore && report.feed.resynced ? 0 : 1;
