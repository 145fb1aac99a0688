/**
 * An error that becomes an RFC 9457 `application/problem+json` response with a stable `code`.
 * Anything thrown that is not a Problem is logged and answered as a 500 INTERNAL_ERROR.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }
}

export const problemType = (code: string) => `urn:taskflow:problem:${code.toLowerCase().replaceAll('_', '-')}`;

export const notFound = (what: string) => new Problem(404, 'NOT_FOUND', `${what} not found`);

export function problemBody(problem: Problem, requestId: string) {
  return {
    type: problemType(problem.code),
    title: problem.title,
    status: problem.status,
    code: problem.code,
    ...(problem.detail ? { detail: problem.detail } : {}),
    requestId,
    ...problem.extra,
  };
}
