// `npm test` after the lint: the e2e tier in a vitest process of its own, beside one for the other tiers. One
// vitest process runs projects that take different numbers of workers one group after the other (sequence.groupOrder),
// and the e2e files mostly wait (on breakers, visibility timeouts, schedules): they overlap best with the CPU-bound
// tiers. Exits with the first failure's code once both are done.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const runs = [
  ['--project', 'e2e'],
  ['--project', 'unit', '--project', 'infra', '--project', 'integration'],
].map(
  (projects) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [vitest, 'run', ...projects, ...process.argv.slice(2)], { stdio: 'inherit' });
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => child.kill(signal));
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    }),
);
const codes = await Promise.all(runs);
process.exit(codes.find((code) => code !== 0) ?? 0);
