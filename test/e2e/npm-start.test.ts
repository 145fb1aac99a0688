import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');

// `npm start` and `npm run token` as a developer runs them: embedded PGlite, nothing else installed.
describe('npm start', () => {
  it('starts on embedded defaults, prints a usable banner, accepts `npm run token` tokens, and stops on Ctrl-C', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-start-'));
    const { DATABASE_URL: _, ...env } = process.env;
    const childEnv = { ...env, PORT: '0', TASKFLOW_DATA_DIR: dataDir, POWERTOOLS_LOG_LEVEL: 'WARN' };
    const child = spawn(tsx, ['bin/local.ts'], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!stdout.includes('Press Ctrl-C') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const url = /TaskFlow is running at (http:\/\/\S+)/.exec(stdout)?.[1];
      expect(url, stdout).toBeDefined();
      expect(stdout).toContain('embedded PGlite');
      expect(stdout).toMatch(/curl -s -X POST http:\/\/localhost:\d+\/projects/);
      const bannerToken = /TOKEN=(\S+)/.exec(stdout)![1]!;

      const minted = spawnSync(tsx, ['bin/token.ts', '--org', 'org_cli', '--user', 'bob'], { cwd: root, env: childEnv, encoding: 'utf8' });
      expect(minted.status).toBe(0);
      const token = minted.stdout.trim();
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // only the token, nothing else

      for (const bearer of [bannerToken, token]) {
        const project = await fetch(`${url}/projects`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'From the CLI' }),
        });
        expect(project.status).toBe(201);
        const { id } = (await project.json()) as { id: string };
        const task = await fetch(`${url}/projects/${id}/tasks`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ title: 'First task' }),
        });
        expect(task.status).toBe(201);
      }

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout).toContain('Stopped.');
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
