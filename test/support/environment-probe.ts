// A function for the local runtime's strictness test: answers the environment it sees, after a pause (so that
// invocations overlap), and sets a variable of its own (which must not leak).
export async function handler(event: { pauseMs?: number }): Promise<Record<string, string | undefined>> {
  process.env.SET_BY_THE_PROBE = 'yes';
  await new Promise((resolve) => setTimeout(resolve, event.pauseMs ?? 0));
  return { ...process.env };
}
