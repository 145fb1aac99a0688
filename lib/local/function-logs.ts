import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

// In AWS, what a function writes to stdout and stderr becomes CloudWatch Logs (Powertools writes WARN and ERROR
// lines to stderr). The local runtime's functions write to this process's streams (one process plays them all); so
// that their log lines can be searched afterwards as CloudWatch's are (`npm run trace`), the runtime appends every
// JSON line written to either to <dataDir>/logs/functions.jsonl, and the terminal still shows them.

/** Where the local runtime keeps its functions' log lines, one JSON object a line. */
export const functionLogFile = (dataDir: string) => join(dataDir, 'logs', 'functions.jsonl');

const sinks = new Set<WriteStream>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (sinks.size > 0) {
        // Powertools writes each log line whole, with its newline; anything else (the banner) is not a function's line.
        const lines = String(chunk).split('\n').filter((line) => line.startsWith('{') && line.endsWith('}'));
        if (lines.length > 0) for (const sink of sinks) sink.write(`${lines.join('\n')}\n`);
      }
      return (write as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** Starts keeping the functions' log lines under `dataDir`; `stop` flushes and closes the file. */
export async function keepFunctionLogs(dataDir: string): Promise<{ file: string; stop(): Promise<void> }> {
  const file = functionLogFile(dataDir);
  await mkdir(join(dataDir, 'logs'), { recursive: true });
  const sink = createWriteStream(file, { flags: 'a' });
  await new Promise<void>((resolve, reject) => sink.once('open', () => resolve()).once('error', reject));
  install();
  sinks.add(sink);
  return {
    file,
    stop: () =>
      new Promise<void>((resolve) => {
        sinks.delete(sink);
        sink.end(resolve);
      }),
  };
}
