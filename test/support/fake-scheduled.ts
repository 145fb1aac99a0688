import type { Context, ScheduledEvent } from 'aws-lambda';

// A test double for a scheduled function (not for the emulator): like the outbox relay, it polls until its
// context says about a second is left, recording each run on globalThis for the schedule tests.

export interface Run {
  event: ScheduledEvent;
  functionName: string;
  remainingAtStart: number;
  polls: number;
  ended?: number;
}

declare global {
  var fakeScheduledRuns: Run[] | undefined;
}

export function runs(): Run[] {
  return (globalThis.fakeScheduledRuns ??= []);
}

export const handler = async (event: ScheduledEvent, context: Context): Promise<void> => {
  const run: Run = { event, functionName: context.functionName, remainingAtStart: context.getRemainingTimeInMillis(), polls: 0 };
  runs().push(run);
  while (context.getRemainingTimeInMillis() > 1_000) {
    run.polls++;
    await new Promise((done) => setTimeout(done, 20));
  }
  run.ended = Date.now();
};
