import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Trace } from '../shared/trace';

export interface Timeouts {
  connectMs: number;
  /** Longest silence on the socket once connected (sending, waiting for the answer, reading it). */
  readMs: number;
}

/** The review's timeouts (C4) for the notification services. */
export const NOTIFICATION_TIMEOUTS: Timeouts = { connectMs: 5_000, readMs: 10_000 };

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The call never got an answer: refused, reset, or past a timeout. Always worth another try later. */
class TransportError extends Error {}

/**
 * One HTTP call with a connect timeout and a read timeout (fetch has only an overall one), carrying
 * the correlation of the work that caused it: `X-Request-Id` and a W3C `traceparent`.
 */
export function call(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; trace: Trace; timeouts: Timeouts },
): Promise<HttpAnswer> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(target, {
      method: init.method,
      headers: {
        ...init.headers,
        'X-Request-Id': init.trace.requestId,
        traceparent: init.trace.traceparent,
        ...(init.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(init.body)) } : {}),
      },
    });
    const fail = (message: string) => {
      request.destroy();
      reject(new TransportError(`${init.method} ${target.origin}${target.pathname}: ${message}`));
    };
    const connectTimer = setTimeout(() => fail(`no connection within ${init.timeouts.connectMs} ms`), init.timeouts.connectMs);
    request.on('socket', (socket) => {
      const connected = () => {
        clearTimeout(connectTimer);
        request.setTimeout(init.timeouts.readMs, () => fail(`no answer within ${init.timeouts.readMs} ms`));
      };
      if (socket.connecting) socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
      else connected();
    });
    request.on('error', (error) => {
      clearTimeout(connectTimer);
      reject(error instanceof TransportError ? error : new TransportError(`${init.method} ${target.origin}${target.pathname}: ${error.message}`));
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', (error) => reject(new TransportError(error.message)));
    });
    request.end(init.body);
  });
}

/** The service refused this delivery for good (no such user, invalid address): retrying cannot help. */
export class PermanentFailure extends Error {}
