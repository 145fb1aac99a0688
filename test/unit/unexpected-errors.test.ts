import { describe, expect, it } from 'vitest';
import { restHandler } from '../../functions/shared/http';
import { lambdaContext, proxyEvent } from '../../lib/local/proxy-event';

// Whatever a handler throws, the caller gets a problem+json answer: an error whose `code` is not PostgreSQL's
// SQLSTATE string (a DOMException's is a number, e.g. an AbortSignal.timeout's TimeoutError) used to crash the
// error mapping itself, and the gateway answered 502 without a body.
describe('an unexpected error in a handler', () => {
  const invoke = (error: unknown) =>
    restHandler({}, async () => {
      throw error;
    })(
      proxyEvent({ route: { method: 'GET', path: '/projects' }, path: '/projects', pathParameters: null, headers: {}, query: new URLSearchParams(), body: null, sourceIp: '127.0.0.1' }),
      lambdaContext('Probe', 10_000),
    );

  it.each([
    ['a DOMException (numeric code)', new DOMException('The operation timed out.', 'TimeoutError')],
    ['an error with a numeric code', Object.assign(new Error('odd'), { code: 42 })],
    ['a thrown string', 'boom'],
  ])('answers 500 INTERNAL_ERROR as problem+json for %s', async (_, error) => {
    const answer = await invoke(error);
    expect(answer.statusCode).toBe(500);
    expect(answer.headers?.['Content-Type']).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
  });

  it('answers 400 INVALID_INPUT for a PostgreSQL data exception (SQLSTATE class 22)', async () => {
    const answer = await invoke(Object.assign(new Error('invalid input syntax for type uuid'), { code: '22P02' }));
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'INVALID_INPUT' });
  });
});
