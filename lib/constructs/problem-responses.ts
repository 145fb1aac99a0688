import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { CORS_RESPONSE_HEADERS } from '../../functions/shared/cors';
import { problemType } from '../../functions/shared/problem';

/** How a response that API Gateway makes itself (never reaching a handler) is answered. */
export interface GatewayProblem {
  type: apigateway.ResponseType;
  /** The HTTP status; absent: the gateway's own status for that error is kept. */
  status?: number;
  /** The stable problem code (same vocabulary as functions/shared/problem.ts). */
  code: string;
  /** A fixed title; absent: the gateway's error message. */
  title?: string;
  headers?: Record<string, string>;
}

/**
 * Gateway-made errors, as RFC 9457 problems like the handlers' (type `urn:taskflow:problem:<code>`).
 * API Gateway uses the most specific response type configured; DEFAULT_4XX/5XX cover the rest.
 */
export const GATEWAY_PROBLEMS: readonly GatewayProblem[] = [
  { type: apigateway.ResponseType.UNAUTHORIZED, status: 401, code: 'UNAUTHORIZED', title: 'Unauthorized' },
  // The gateway's message: "User is not authorized to access this resource".
  { type: apigateway.ResponseType.ACCESS_DENIED, status: 403, code: 'FORBIDDEN' },
  // REST API answers an unknown path (or a method a path does not have) with 403 "Missing Authentication
  // Token": it is a 404. (A preflight for an unknown path is not: the root's `{proxy+}` answers it, lib/constructs/api.ts.)
  { type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, status: 404, code: 'NOT_FOUND', title: 'No such route' },
  { type: apigateway.ResponseType.RESOURCE_NOT_FOUND, status: 404, code: 'NOT_FOUND', title: 'No such route' },
  { type: apigateway.ResponseType.REQUEST_TOO_LARGE, status: 413, code: 'PAYLOAD_TOO_LARGE', title: 'Request payload is too large' },
  {
    type: apigateway.ResponseType.THROTTLED,
    status: 429,
    code: 'TOO_MANY_REQUESTS',
    title: 'Too many requests',
    headers: { 'Retry-After': '1' },
  },
  { type: apigateway.ResponseType.DEFAULT_4XX, code: 'BAD_REQUEST' },
  { type: apigateway.ResponseType.DEFAULT_5XX, code: 'INTERNAL_ERROR' },
];

/** The body template: VTL is not run on gateway responses, but `$context` variables are substituted. */
export function problemTemplate(problem: GatewayProblem): string {
  const fields = [
    `"type":"${problemType(problem.code)}"`,
    // messageString is the message as a quoted, escaped JSON string.
    `"title":${problem.title ? JSON.stringify(problem.title) : '$context.error.messageString'}`,
    ...(problem.status ? [`"status":${problem.status}`] : []),
    `"code":"${problem.code}"`,
    '"requestId":"$context.requestId"',
  ];
  return `{${fields.join(',')}}`;
}

/** Makes every gateway-made error an `application/problem+json` response carrying `X-Request-Id`. */
export function addProblemResponses(api: apigateway.RestApi): void {
  for (const problem of GATEWAY_PROBLEMS) {
    const template = problemTemplate(problem);
    const staticHeaders = { 'Content-Type': 'application/problem+json', ...CORS_RESPONSE_HEADERS, ...problem.headers };
    api.addGatewayResponse(problem.type.responseType, {
      type: problem.type,
      ...(problem.status ? { statusCode: String(problem.status) } : {}),
      responseHeaders: {
        ...Object.fromEntries(Object.entries(staticHeaders).map(([name, value]) => [name, `'${value}'`])),
        'X-Request-Id': 'context.requestId',
      },
      templates: { 'application/json': template, 'application/problem+json': template },
    });
  }
}
