// `npm run trace -- <requestId>`: the waterfall of one request across every function it reached (API → outbox →
// queue → worker → outbound calls), from the span lines the local runtime keeps in TASKFLOW_DATA_DIR/logs.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { functionLogFile } from '../lib/local/function-logs';
import { readSpans, waterfall } from '../lib/local/waterfall';

const { positionals } = parseArgs({ allowPositionals: true });
const [requestId] = positionals;
if (!requestId || positionals.length > 1) {
  console.error('usage: npm run trace -- <requestId>   (the X-Request-Id of a response, or the one you sent)');
  process.exit(2);
}
const file = functionLogFile(resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow'));
if (!existsSync(file)) {
  console.error(`No function logs at ${file}: start the local runtime (npm start) with the same TASKFLOW_DATA_DIR and make a request.`);
  process.exit(1);
}
const spans = await readSpans(file, requestId);
console.log(waterfall(requestId, spans));
if (spans.length === 0) {
  console.error(`Nothing in ${file} names it; its spans are written at log level INFO (POWERTOOLS_LOG_LEVEL).`);
  process.exit(1);
}
