import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');

interface Started {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far. */
  output: { text: string };
  exited: Promise<number | null>;
}

// What `npm start` runs (package.json): node itself, with tsx's loader, so that a signal to it reaches the server (tsx's
// own CLI relays a signal to a child node and SIGKILLs it when it does not acknowledge within 30 ms).
const npmStart: [string, string[]] = [process.execPath, ['--import', 'tsx', 'bin/local.ts']];

async function start(env: NodeJS.ProcessEnv, command = npmStart): Promise<Started> {
  // Its own process group (when detached), so that a test can end whatever it left running.
  const child = spawn(command[0], command[1], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: command[0] === 'npm' });
  const output = { text: '' };
  child.stdout!.on('data', (chunk) => (output.text += chunk));
  // 'close', not 'exit': the last of its output has been read by then.
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  const deadline = Date.now() + 60_000;
  while (!output.text.includes('Press Ctrl-C') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const url = /TaskFlow is running at (http:\/\/\S+)/.exec(output.text)?.[1];
  if (!url) throw new Error(`no banner: ${output.text}`);
  return { child, url, output, exited };
}

async function stop(started: Started): Promise<void> {
  started.child.kill('SIGINT');
  expect(await started.exited).toBe(0);
}

// `npm start` and `npm run token` as a developer runs them: embedded PGlite and dynalite, nothing else installed.
describe('npm start', () => {
  it('starts on embedded defaults, accepts `npm run token` tokens, stops on Ctrl-C, and keeps its data across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-start-'));
    const { DATABASE_URL: _, AWS_ENDPOINT_URL_DYNAMODB: __, IDEMPOTENCY_TABLE_NAME: ___, ...env } = process.env;
    const childEnv = { ...env, PORT: '0', SQS_PORT: '0', SANDBOX_PORT: '0', S3_PORT: '0', WS_PORT: '0', TASKFLOW_DATA_DIR: dataDir, POWERTOOLS_LOG_LEVEL: 'WARN' };
    let started: Started | undefined;
    try {
      started = await start(childEnv);
      expect(started.output.text).toContain('embedded PGlite');
      expect(started.output.text).toMatch(/curl -s -X POST http:\/\/localhost:\d+\/projects/);
      const bannerToken = /TOKEN=(\S+)/.exec(started.output.text)![1]!;

      const minted = spawnSync(tsx, ['bin/token.ts', '--org', 'org_cli', '--user', 'bob'], { cwd: root, env: childEnv, encoding: 'utf8' });
      expect(minted.status).toBe(0);
      const token = minted.stdout.trim();
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // only the token, nothing else

      const post = (url: string, path: string, bearer: string, body: object, headers: Record<string, string> = {}) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
      for (const bearer of [bannerToken, token]) {
        const project = await post(started.url, '/projects', bearer, { name: 'From the CLI' });
        expect(project.status).toBe(201);
        const { id } = (await project.json()) as { id: string };
        expect((await post(started.url, `/projects/${id}/tasks`, bearer, { title: 'First task' })).status).toBe(201);
      }
      const keyed = await post(started.url, '/projects', token, { name: 'Keyed' }, { 'Idempotency-Key': 'across-restarts' });
      expect(keyed.status).toBe(201);

      await stop(started);
      expect(started.output.text).toContain('Stopped.');

      started = await start(childEnv);
      const listed = await fetch(`${started.url}/projects`, { headers: { Authorization: `Bearer ${token}` } });
      expect(((await listed.json()) as { items: { name: string }[] }).items.map((p) => p.name)).toEqual(['From the CLI', 'Keyed']);
      const replay = await post(started.url, '/projects', token, { name: 'Keyed' }, { 'Idempotency-Key': 'across-restarts' });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      await stop(started);
    } finally {
      started?.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  // Process groups of `npm start`s: what is left of one (only if its test failed, even by timing out) is ended.
  const groups: number[] = [];
  afterEach(() => {
    for (const group of groups.splice(0)) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops cleanly on %s sent to the pid of `npm start` alone, as a supervisor sends it', async (signal) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-start-'));
    const { DATABASE_URL: _, AWS_ENDPOINT_URL_DYNAMODB: __, IDEMPOTENCY_TABLE_NAME: ___, ...env } = process.env;
    const childEnv = { ...env, PORT: '0', SQS_PORT: '0', SANDBOX_PORT: '0', S3_PORT: '0', WS_PORT: '0', TASKFLOW_DATA_DIR: dataDir, POWERTOOLS_LOG_LEVEL: 'WARN' };
    let started: Started | undefined;
    try {
      started = await start(childEnv, ['npm', ['start']]);
      groups.push(started.child.pid!);
      expect((await fetch(`${started.url}/health`)).status).toBe(200);
      process.kill(started.child.pid!, signal); // npm's pid only, not its process group
      expect(await started.exited).toBe(0);
      expect(started.output.text).toContain('Stopped.');
      await expect(fetch(`${started.url}/health`)).rejects.toThrow();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
