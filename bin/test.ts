// `npm test` after the lint, in two phases on two vitest processes. One vitest process runs projects that take
// different numbers of workers one group after the other (sequence.groupOrder), so the e2e tier has a process of its own:
// 1. the unit, infra and integration tiers, and beside them the outage scenarios (test/e2e/outage/: they mostly
//    wait on breakers and visibility timeouts);
// 2. the rest of the e2e tier, whose load tests (the feed's 50 clients, the pipeline's 1,000 mutations, npm start)
//    then have the machine to themselves.
// Exits with the first failure's code once every run is done.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const OUTAGES = 'test/e2e/outage/';

function run(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', ...args, ...process.argv.slice(2)], { stdio: 'inherit' });
    const stop = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', stop).on('SIGTERM', stop);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const codes = await Promise.all([run(['--project', 'unit', '--project', 'infra', '--project', 'integration']), run(['--project', 'e2e', OUTAGES])]);
codes.push(await run(['--project', 'e2e', '--exclude', `${OUTAGES}**`]));
process.exit(codes.find((code) => code !== 0) ?? 0);
