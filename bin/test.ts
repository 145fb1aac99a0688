// `npm test` after the lint, in two phases on two vitest processes. One vitest process runs projects that take
// different numbers of workers one group after the other (sequence.groupOrder), so the e2e tier has a process of its own:
// 1. the unit, infra and integration tiers, and beside them the outage scenarios (test/e2e/outage/: they mostly
//    wait on breakers and visibility timeouts);
// 2. the rest of the e2e tier, whose load tests (the feed's 50 clients, the pipeline's 1,000 mutations, npm start)
//    then have the machine to themselves.
// Exits with the first failure's code once every run is done, after listing every failed test again: a CI log that
// keeps only its tail still says what failed in the first phase.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const OUTAGES = 'test/e2e/outage/';
const reports = mkdtempSync(join(tmpdir(), 'taskflow-test-'));

interface Run {
  name: string;
  code: number;
  report: string;
}

function run(name: string, args: string[]): Promise<Run> {
  const report = join(reports, `${name}.json`);
  const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', ...args, ...reporters, ...process.argv.slice(2)], { stdio: 'inherit' });
    const stop = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', stop).on('SIGTERM', stop);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      resolve({ name, code: code ?? (signal ? 1 : 0), report });
    });
  });
}

interface JsonReport {
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
  }[];
}

function failures({ name, code, report }: Run): string[] {
  if (code === 0) return [];
  let parsed: JsonReport;
  try {
    parsed = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
  } catch {
    return [`${name}: vitest exited with ${code} and wrote no report`];
  }
  const lines: string[] = [];
  for (const file of parsed.testResults) {
    const where = file.name.replace(`${process.cwd()}/`, '');
    if (file.message) lines.push(`${name}: ${where}: ${firstLine(file.message)}`);
    for (const test of file.assertionResults.filter((result) => result.status === 'failed')) {
      lines.push(`${name}: ${where} > ${test.fullName}: ${firstLine(test.failureMessages[0] ?? '')}`);
    }
  }
  return lines.length > 0 ? lines : [`${name}: vitest exited with ${code}`];
}

const firstLine = (text: string) => (text.split('\n')[0] ?? '').slice(0, 300);

const runs = await Promise.all([
  run('unit-infra-integration', ['--project', 'unit', '--project', 'infra', '--project', 'integration']),
  run('e2e-outages', ['--project', 'e2e', OUTAGES]),
]);
runs.push(await run('e2e', ['--project', 'e2e', '--exclude', `${OUTAGES}**`]));
const failed = runs.flatMap(failures);
if (failed.length > 0) console.error(`\nFailed:\n${failed.map((line) => `  ${line}`).join('\n')}`);
rmSync(reports, { recursive: true, force: true });
process.exit(runs.find((result) => result.code !== 0)?.code ?? 0);
