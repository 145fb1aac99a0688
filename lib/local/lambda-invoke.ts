import type { RequestListener } from 'node:http';
import type { Context } from 'aws-lambda';
import { lambdaContext } from './proxy-event';

/** Lambda's Invoke API path: `/2015-03-31/functions/{FunctionName}/invocations`. */
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export interface InvokableFunction {
  invoke(event: unknown, context: Context): Promise<unknown>;
  timeoutMs: number;
}

/**
 * Lambda's Invoke API (RequestResponse) for the declared functions by their local names, on the REST API's port: what
 * the canary's pre-traffic hook calls (AWS_ENDPOINT_URL_LAMBDA) to run the synthetic transaction against a function.
 * A qualifier (`:live`, `?Qualifier=`) is accepted and ignored: locally each function has one version. A handler that
 * throws answers 200 with `X-Amz-Function-Error: Unhandled` and the error as the payload, as Lambda does. Requests are
 * not signature-checked (the local runtime's callers are on loopback).
 */
export function lambdaInvokeEndpoint(functions: (name: string) => InvokableFunction | undefined, next: RequestListener): RequestListener {
  return (req, res) => {
    const match = INVOKE_PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!match || req.method !== 'POST') return next(req, res);
    const name = decodeURIComponent(match[1]!).replace(/^arn:aws:lambda:[^:]*:[^:]*:function:/, '').split(':')[0]!;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        const payload = JSON.stringify(body ?? null);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...headers });
        res.end(payload);
      };
      const fn = functions(name);
      if (!fn) return reply(404, { __type: 'ResourceNotFoundException', message: `Function not found: ${name}` }, { 'X-Amzn-ErrorType': 'ResourceNotFoundException' });
      let event: unknown;
      try {
        event = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      } catch {
        return reply(400, { __type: 'InvalidRequestContentException', message: 'Could not parse request body into json' });
      }
      fn.invoke(event, lambdaContext(name, fn.timeoutMs)).then(
        (result) => reply(200, result),
        (error: Error) => reply(200, { errorType: error.name, errorMessage: error.message }, { 'X-Amz-Function-Error': 'Unhandled' }),
      );
    });
  };
}
