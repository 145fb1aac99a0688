import { randomUUID } from 'node:crypto';
import type { RequestListener, ServerResponse } from 'node:http';
import type { ScheduledEvent } from 'aws-lambda';
import { Problem, problemBody } from '../../functions/shared/problem';
import { DEFAULT_TIMEOUT_SECONDS, type AppDeclaration, type FunctionDeclaration } from '../declaration';
import { loadHandler } from './invoke';
import { Invocations, pascal, type AsyncHandler } from './lambda';
import { LOCAL_ACCOUNT_ID } from './sqs';

export type ScheduledHandler = AsyncHandler<ScheduledEvent, unknown>;

export interface ScheduleOptions {
  app: Pick<AppDeclaration, 'name' | 'schedules'>;
  /**
   * Run each schedule at start and then every `everyMinutes` (default true); false: only run(name); a list of
   * names: those on their timers, the others only through run(name).
   */
  timers?: boolean | readonly string[];
  region?: string;
  /**
   * The handler to invoke for a declared function (the local runtime's: run in the function's own environment);
   * by default its module's `handler`, in this process's environment.
   */
  handlerFor?<H extends AsyncHandler<never, unknown>>(functionName: string, declaration: FunctionDeclaration): H;
  log?: (line: string) => void;
}

export interface Schedules {
  names: string[];
  /**
   * Invokes the schedule's function now (as its rule would) and resolves when that invocation ends; rejects
   * with UnknownSchedule for an undeclared name. A failing run is logged, not thrown: the rule does not care.
   */
  run(name: string): Promise<void>;
  /** Stops the timers; running invocations see no time left, and this resolves once they have ended. */
  stop(): Promise<void>;
}

export class UnknownSchedule extends Error {
  constructor(readonly schedule: string) {
    super(`No schedule named ${schedule} is declared`);
    this.name = 'UnknownSchedule';
  }
}

/**
 * EventBridge rate schedules for the local runtime: each declared schedule's function is invoked with the
 * Scheduled Event a rule sends, every `everyMinutes`, whether or not the previous run has ended (runs of the
 * outbox relay overlap, as in AWS). The context reports the remaining time honestly, and none once stopping.
 */
export function startSchedules(options: ScheduleOptions): Schedules {
  const log = options.log ?? (() => undefined);
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const invocations = new Invocations();
  const timers: NodeJS.Timeout[] = [];

  async function run(name: string): Promise<void> {
    const schedule = options.app.schedules[name];
    if (!schedule) throw new UnknownSchedule(name);
    if (invocations.stopped) return;
    const functionName = pascal(name);
    const event: ScheduledEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: LOCAL_ACCOUNT_ID,
      // EventBridge gives the scheduled time to the second.
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region,
      resources: [`arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${options.app.name}-${functionName}`],
      detail: {},
    };
    try {
      const timeoutMs = (schedule.function.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
      await invocations.invoke(async () => (options.handlerFor ? options.handlerFor<ScheduledHandler>(functionName, schedule.function) : loadHandler<ScheduledHandler>(schedule.function.entry)), event, functionName, timeoutMs);
    } catch (error) {
      log(`${functionName}: ${(error as Error).stack ?? String(error)}`);
    }
  }

  const timed = options.timers ?? true;
  if (timed !== false) {
    for (const [name, schedule] of Object.entries(options.app.schedules)) {
      if (timed !== true && !timed.includes(name)) continue;
      void run(name);
      const timer = setInterval(() => void run(name), schedule.everyMinutes * 60_000);
      timer.unref();
      timers.push(timer);
    }
  }

  return {
    names: Object.keys(options.app.schedules),
    run,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await invocations.stop();
    },
  };
}

/** `POST /_local/schedules/{name}`: run a schedule now (local only; the deployed API has no such route). */
export const SCHEDULE_RUN_PATH = /^\/_local\/schedules\/([^/]+)$/;

/**
 * The local runtime's run-now endpoint in front of `next` (the REST gateway): `POST /_local/schedules/{name}`
 * answers 202 and runs the schedule in the background; an undeclared name answers 404 problem+json.
 */
export function scheduleRunEndpoint(schedules: Pick<Schedules, 'names' | 'run'>, next: RequestListener, log?: (line: string) => void): RequestListener {
  return (req, res) => {
    const match = SCHEDULE_RUN_PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!match || req.method !== 'POST') return next(req, res);
    req.resume();
    const requestId = req.headers['x-request-id']?.toString() || randomUUID();
    let name = match[1]!;
    try {
      name = decodeURIComponent(name);
    } catch {
      // not valid percent-encoding: no schedule has that name either
    }
    if (!schedules.names.includes(name)) {
      const problem = new Problem(404, 'NOT_FOUND', 'Schedule not found', `No schedule named ${name}; declared: ${schedules.names.join(', ')}`);
      return reply(res, 404, 'application/problem+json', problemBody(problem, requestId), requestId);
    }
    log?.(`POST ${req.url} → 202 (${name} runs now)`);
    void schedules.run(name).catch((error: unknown) => log?.(String(error)));
    reply(res, 202, 'application/json', { schedule: name, status: 'started' }, requestId);
  };
}

function reply(res: ServerResponse, status: number, contentType: string, body: unknown, requestId: string): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload), 'X-Request-Id': requestId });
  res.end(payload);
}
