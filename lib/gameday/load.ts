import { randomUUID } from 'node:crypto';

/** One HTTP attempt of the load: a creation's or a read's, when it started, whether it was answered without a server error. */
export interface Attempt {
  kind: 'create' | 'read';
  at: number;
  ok: boolean;
}

/** A task creation the load asked for: its marker (in the title), and the task's id once a 2xx acknowledged it. */
export interface Creation {
  marker: string;
  taskId?: string;
}

export interface LoadTarget {
  url: string;
  token: string;
  projectId: string;
  assigneeId: string;
}

export interface SteadyLoad {
  attempts: Attempt[];
  creations: Creation[];
  /** Stops starting new creations and resolves once those under way are acknowledged or given up. */
  stop(): Promise<void>;
}

/** How long a client keeps retrying one creation (the same Idempotency-Key) before it gives up. */
const GIVE_UP_MS = 90_000;
const ATTEMPT_TIMEOUT_MS = 15_000;

/**
 * Steady load as TaskFlow's clients make it: `clients` loops, each creating a task assigned to someone (an event, an
 * outbox entry, a Slack message and an e-mail), then pausing `pauseMs`; and a reader listing the project's tasks as often. A client retries as the API asks, with the
 * same Idempotency-Key, after a server error, a 409 REQUEST_IN_PROGRESS or a connection that failed (the API away
 * during a deploy), so an acknowledged creation is one the client can count on, and a retried one must not make two.
 */
export function steadyLoad(target: LoadTarget, { clients, pauseMs, tag }: { clients: number; pauseMs: number; tag: string }): SteadyLoad {
  const attempts: Attempt[] = [];
  const creations: Creation[] = [];
  let running = true;
  const create = async (creation: Creation) => {
    const key = randomUUID();
    const started = Date.now();
    for (let attempt = 1; Date.now() - started < GIVE_UP_MS; attempt += 1) {
      const at = Date.now();
      const response = await fetch(`${target.url}/projects/${target.projectId}/tasks`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ title: creation.marker, assigneeId: target.assigneeId }),
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      }).catch(() => null);
      const answer = (await response?.json().catch(() => undefined)) as { id?: string; code?: string } | undefined;
      attempts.push({ kind: 'create', at, ok: !!response && response.status < 500 });
      if (response && response.status < 300) return void (creation.taskId = answer?.id);
      const retryable = !response || response.status >= 500 || (response.status === 409 && answer?.code === 'REQUEST_IN_PROGRESS') || response.status === 429;
      if (!retryable) throw new Error(`POST /projects/${target.projectId}/tasks: ${response.status} ${JSON.stringify(answer)}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * attempt)));
    }
  };
  // Reads are not retried: whether they go on while a dependency of the mutations is away.
  const read = async () => {
    const at = Date.now();
    const response = await fetch(`${target.url}/projects/${target.projectId}/tasks?limit=5`, {
      headers: { Authorization: `Bearer ${target.token}` },
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    }).catch(() => null);
    await response?.arrayBuffer().catch(() => undefined);
    attempts.push({ kind: 'read', at, ok: !!response && response.status < 500 });
  };
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const creation: Creation = { marker: `${tag} n${creations.length}` };
      creations.push(creation);
      await create(creation);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  });
  // A reader beside the writers, so reads are seen while creations are held up retrying.
  loops.push(
    (async () => {
      while (running) {
        await read();
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    })(),
  );
  return {
    attempts,
    creations,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
