import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// A running local runtime records where its services listen in its data folder, so that tools (`npm run dlq --
// --local`) find it by themselves, whatever ports it was given (0: any free one).

export interface LocalEndpoints {
  /** The process that runs them: a file left by a runtime that died is not taken for a running one. */
  pid: number;
  api: string;
  sqs: string;
  s3: string;
  sandboxes: string;
  websocket: string;
}

export const endpointsFile = (dataDir: string) => join(dataDir, 'endpoints.json');

export async function recordEndpoints(dataDir: string, endpoints: Omit<LocalEndpoints, 'pid'>): Promise<void> {
  await writeFile(endpointsFile(dataDir), `${JSON.stringify({ pid: process.pid, ...endpoints }, null, 2)}\n`);
}

/** Forgets this process's endpoints (another runtime's, on the same folder since, stay). */
export async function forgetEndpoints(dataDir: string): Promise<void> {
  if ((await readEndpoints(dataDir))?.pid === process.pid) await rm(endpointsFile(dataDir), { force: true });
}

/** The endpoints of the runtime running on `dataDir`; undefined when none is. */
export async function runningEndpoints(dataDir: string): Promise<LocalEndpoints | undefined> {
  const endpoints = await readEndpoints(dataDir);
  return endpoints && isRunning(endpoints.pid) ? endpoints : undefined;
}

async function readEndpoints(dataDir: string): Promise<LocalEndpoints | undefined> {
  try {
    return JSON.parse(await readFile(endpointsFile(dataDir), 'utf8')) as LocalEndpoints;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // no signal: only whether the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
