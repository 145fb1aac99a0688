import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, expect, it } from 'vitest';
import { keepFunctionLogs } from '../../lib/local/function-logs';

// `npm run trace` and the runbooks' searches read <dataDir>/logs/functions.jsonl as CloudWatch Logs would be read.
// Lambda keeps stdout and stderr alike, and Powertools writes WARN and ERROR lines to stderr: the file keeps both.

let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

it("keeps a function's INFO, WARN and ERROR lines (stdout and stderr), and not the terminal's other text", async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-function-logs-'));
  const kept = await keepFunctionLogs(dataDir);
  const logger = new Logger({ serviceName: 'taskflow', logLevel: 'INFO' });
  logger.info('on stdout');
  logger.warn('a warning on stderr');
  logger.error('an error on stderr');
  process.stderr.write('not a log line\n');
  await kept.stop();
  const lines = (await readFile(kept.file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { level: string; message: string });
  expect(lines.map(({ level, message }) => [level, message])).toEqual([
    ['INFO', 'on stdout'],
    ['WARN', 'a warning on stderr'],
    ['ERROR', 'an error on stderr'],
  ]);
});
