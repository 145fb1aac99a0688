import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Http1Pool, type Http1Response } from '../../functions/shared/http1';

// functions/shared/http1.ts is written by hand for the bundle budget; here it must read every answer as node:http
// does (status, headers, body), against node:http servers and, for what those never send, a server of raw bytes.

interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** node:http's reading of the answer, on a kept-alive socket of its own (as ours: no `Connection: close` sent). */
function viaNode(origin: string, { method, path, headers = {}, body }: Sent, ca?: string): Promise<Http1Response> {
  const url = new URL(path, origin);
  const agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, ...(ca ? { ca } : {}) }) : new HttpAgent({ keepAlive: true });
  return new Promise<Http1Response>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: joined(response.headers), body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  }).finally(() => agent.destroy());
}

const joined = (headers: IncomingHttpHeaders) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value!]));

function viaPool(pool: Http1Pool, origin: string, { method, path, headers, body }: Sent, timeoutMs = 5_000): Promise<Http1Response> {
  return pool.request({ method, url: new URL(path, origin), ...(headers ? { headers } : {}), ...(body === undefined ? {} : { body }), timeoutMs });
}

/** The answer as compared: its date is the second it was sent in. */
const compared = ({ status, headers, body }: Http1Response) => ({ status, headers: { ...headers, date: undefined }, body });

async function listening<T extends Server | ReturnType<typeof createNetServer>>(server: T): Promise<T> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
const originOf = (server: { address(): unknown }, scheme = 'http') => `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
const closed = (server: { close(done: () => void): unknown; closeAllConnections?: () => void }) => {
  server.closeAllConnections?.();
  return new Promise<void>((done) => server.close(() => done()));
};

// A node:http server: each path an answer; every connection and every request counted.
const euro = '€ 10 — naïve café, 日本語, 🎉';
const large = 'abcdefghij'.repeat(10_000) + euro; // > 64 KB: several reads and writes
let nodeConnections = 0;
let hung: Socket | undefined;
const node = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    switch (req.url) {
      case '/echo':
        return res.writeHead(201, { 'Content-Type': 'application/json', 'X-Custom': 'a b' }).end(JSON.stringify({ method: req.method, body, length: req.headers['content-length'] ?? null, host: req.headers.host }));
      case '/empty':
        return res.writeHead(200).end();
      case '/no-content':
        return res.writeHead(204, { 'X-Custom': 'none' }).end();
      case '/not-modified':
        return res.writeHead(304, { ETag: '"1"' }).end();
      case '/chunked': {
        res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
        res.write('first,');
        res.write('second,');
        res.addTrailers({ 'X-Checksum': 'abc' });
        return res.end('third');
      }
      case '/utf8':
        return res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(euro);
      case '/utf8-chunked': {
        // A character split between two chunks.
        const bytes = Buffer.from(euro);
        res.writeHead(200);
        res.write(bytes.subarray(0, 1));
        res.write(bytes.subarray(1, 26));
        return res.end(bytes.subarray(26));
      }
      case '/large':
        return res.writeHead(200).end(large);
      case '/large-chunked':
        res.writeHead(200);
        for (let at = 0; at < large.length; at += 7_000) res.write(large.slice(at, at + 7_000));
        return res.end();
      case '/close':
        return res.writeHead(200, { Connection: 'close', 'Content-Type': 'text/plain' }).end('bye');
      case '/hang':
        hung = req.socket;
        return; // never answered
      case '/slow':
        return void setTimeout(() => res.end('late'), 300);
      default:
        return res.writeHead(404).end('no such path');
    }
  });
});
node.on('connection', () => nodeConnections++);

// A server of raw bytes, for what node:http servers never send: each path an answer as bytes, maybe one byte at a
// time (?bytewise), maybe closing the connection after it; every connection and request counted.
const rawAnswers: Record<string, { bytes: string; end?: boolean }> = {
  '/chunk-extensions': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;name=value\r\nhello\r\n6;ext="q;x"\r\n world\r\n0;last\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n' },
  '/to-close': { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the end', end: true },
  '/http10': { bytes: 'HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n1.0ok' },
  '/http10-keep-alive': { bytes: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nkept' },
  '/http10-to-close': { bytes: 'HTTP/1.0 200 OK\r\n\r\nold style', end: true },
  '/close-length': { bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye' },
  '/no-reason': { bytes: 'HTTP/1.1 202\r\nContent-Length: 2\r\n\r\nok' },
  '/continue': { bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Multi: a\r\nX-Multi: b\r\n\r\nthen' },
  '/length': { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world' },
  '/no-content': { bytes: 'HTTP/1.1 204 No Content\r\nX-Custom: none\r\n\r\n' },
  '/empty': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  '/extra-bytes': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n' },
  '/bad-status': { bytes: 'HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok' },
  '/not-http': { bytes: 'SSH-2.0-OpenSSH_9.6\r\n\r\n' },
  '/bad-length': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nok' },
  '/both-framings': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  '/bad-chunk': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n' },
  '/long-chunk': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n' },
  '/bare-lf': { bytes: 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 2\r\n\r\nok' },
  '/bad-header': { bytes: 'HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok' },
};
interface RawRequest {
  path: string;
  connection: number;
}
const rawRequests: RawRequest[] = [];
let rawConnections = 0;
// What the raw server does with the nth request on a connection (0-based), beyond its answer.
let onRawRequest: (request: RawRequest, index: number, socket: Socket) => 'answer' | 'handled' = () => 'answer';
const raw = createNetServer((socket) => {
  const connection = ++rawConnections;
  let buffered = '';
  let index = 0;
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('data', async (chunk) => {
    buffered += chunk.toString('latin1');
    for (let end; (end = buffered.indexOf('\r\n\r\n')) >= 0; ) {
      const head = buffered.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.slice(end + 4 + length);
      const url = new URL(head.split(' ')[1]!, 'http://x');
      const request = { path: url.pathname, connection };
      rawRequests.push(request);
      if (onRawRequest(request, index++, socket) === 'handled') continue;
      const answer = rawAnswers[url.pathname] ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' };
      if (url.searchParams.has('bytewise')) {
        for (const byte of Buffer.from(answer.bytes, 'latin1')) {
          socket.write(Buffer.from([byte]));
          await sleep(1);
        }
      } else socket.write(answer.bytes, 'latin1');
      if (answer.end) socket.end();
    }
  });
});

let pool: Http1Pool;
let nodeOrigin: string;
let rawOrigin: string;

beforeAll(async () => {
  nodeOrigin = originOf(await listening(node));
  rawOrigin = originOf(await listening(raw));
});
afterAll(async () => {
  await Promise.all([closed(node), closed(raw)]);
});
beforeEach(() => {
  pool = new Http1Pool();
  onRawRequest = () => 'answer';
});
afterEach(() => pool.close());

describe('http1, answer for answer against node:http', () => {
  const nodeCases: [string, Sent][] = [
    ['a content-length body, a POST body and its length sent', { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"a":"ü"}' }],
    ['a DELETE without a body (no length sent)', { method: 'DELETE', path: '/echo' }],
    ['a query string', { method: 'GET', path: '/echo?a=1&b=%20' }],
    ['an empty 200', { method: 'GET', path: '/empty' }],
    ['a 204', { method: 'DELETE', path: '/no-content' }],
    ['a 304', { method: 'GET', path: '/not-modified' }],
    ['a HEAD, whose content-length has no body', { method: 'HEAD', path: '/echo' }],
    ['a chunked body with a trailer', { method: 'GET', path: '/chunked' }],
    ['Connection: close', { method: 'GET', path: '/close' }],
    ['a non-ASCII UTF-8 body', { method: 'GET', path: '/utf8' }],
    ['a UTF-8 character split between chunks', { method: 'GET', path: '/utf8-chunked' }],
    ['a body over 64 KB', { method: 'GET', path: '/large' }],
    ['a chunked body over 64 KB', { method: 'GET', path: '/large-chunked' }],
    ['a 404', { method: 'GET', path: '/nowhere' }],
  ];
  it.each(nodeCases)('from node:http: %s', async (_, sent) => {
    const ours = await viaPool(pool, nodeOrigin, sent);
    expect(compared(ours)).toEqual(compared(await viaNode(nodeOrigin, sent)));
    expect(ours.status).toBeGreaterThan(0);
  });

  it('sends what node:http sends: method, path, body, content-length, host', async () => {
    const ours = JSON.parse((await viaPool(pool, nodeOrigin, { method: 'POST', path: '/echo', body: 'été' })).body);
    expect(ours).toEqual({ method: 'POST', body: 'été', length: '5', host: new URL(nodeOrigin).host });
    expect(ours).toEqual(JSON.parse((await viaNode(nodeOrigin, { method: 'POST', path: '/echo', body: 'été' })).body));
  });

  const rawCases = ['/chunk-extensions', '/to-close', '/http10', '/http10-keep-alive', '/http10-to-close', '/close-length', '/no-reason', '/continue', '/length', '/no-content', '/empty'];
  it.each(rawCases)('from raw bytes: %s, whole and one byte at a time', async (path) => {
    const expected = compared(await viaNode(rawOrigin, { method: 'GET', path }));
    expect(compared(await viaPool(pool, rawOrigin, { method: 'GET', path }))).toEqual(expected);
    expect(compared(await viaPool(pool, rawOrigin, { method: 'GET', path: `${path}?bytewise` }))).toEqual(expected);
  });

  it('reads a chunked body with extensions and trailers as its chunks, the trailers not among the headers', async () => {
    const { body, headers } = await viaPool(pool, rawOrigin, { method: 'GET', path: '/chunk-extensions' });
    expect(body).toBe('hello world');
    expect(headers['x-sum']).toBeUndefined();
  });

  const malformed = ['/bad-status', '/not-http', '/bad-length', '/both-framings', '/bad-chunk', '/long-chunk', '/bad-header', '/bare-lf'];
  it.each(malformed)('refuses a malformed answer as node:http does: %s', async (path) => {
    await expect(viaNode(rawOrigin, { method: 'GET', path })).rejects.toThrow();
    await expect(viaPool(pool, rawOrigin, { method: 'GET', path })).rejects.toThrow(/malformed HTTP\/1\.1 response/);
    await expect(viaPool(pool, rawOrigin, { method: 'GET', path: `${path}?bytewise` })).rejects.toThrow(/malformed HTTP\/1\.1 response/);
    expect(pool.idleSockets).toBe(0);
  });
});

describe('http1, its sockets', () => {
  it('reuses one kept-alive socket for sequential requests, and opens one per request under way at once', async () => {
    const before = nodeConnections;
    for (let i = 0; i < 5; i++) expect((await viaPool(pool, nodeOrigin, { method: 'POST', path: '/echo', body: `${i}` })).status).toBe(201);
    expect(nodeConnections - before).toBe(1);
    const bodies = await Promise.all(Array.from({ length: 10 }, (_, i) => viaPool(pool, nodeOrigin, { method: 'POST', path: '/echo', body: `n${i}` })));
    expect(bodies.map((answer) => JSON.parse(answer.body).body)).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`));
    expect(nodeConnections - before).toBe(10);
    expect(pool.idleSockets).toBe(10);
  });

  it.each([
    ['Connection: close', '/close-length', false],
    ['an HTTP/1.0 answer', '/http10', false],
    ['an HTTP/1.0 answer with keep-alive', '/http10-keep-alive', true],
    ['bytes past the answer', '/extra-bytes', false],
    ['a chunked answer', '/chunk-extensions', true],
    ['a 204', '/no-content', true],
  ])('reuses the socket after %s: %s', async (_, path, reused) => {
    const before = rawConnections;
    await viaPool(pool, rawOrigin, { method: 'GET', path });
    await viaPool(pool, rawOrigin, { method: 'GET', path: '/length' });
    expect(rawConnections - before).toBe(reused ? 1 : 2);
  });

  it.each(['end', 'resetAndDestroy'] as const)('drops an idle socket the server closes (%s: FIN or RST)', async (close) => {
    onRawRequest = (_, __, socket) => {
      socket.write(rawAnswers['/length']!.bytes);
      setTimeout(() => socket[close](), 20);
      return 'handled';
    };
    await viaPool(pool, rawOrigin, { method: 'GET', path: '/length' });
    expect(pool.idleSockets).toBe(1);
    await sleep(100);
    expect(pool.idleSockets).toBe(0);
  });

  it('sends a request again on a new socket when a kept-alive one fails before any answer, once', async () => {
    // The server's side of the race: it closes an idle socket as the client writes on it.
    onRawRequest = (_, index, socket) => {
      if (index === 0) return 'answer';
      socket.resetAndDestroy();
      return 'handled';
    };
    const before = rawRequests.length;
    await viaPool(pool, rawOrigin, { method: 'GET', path: '/length' });
    const answer = await viaPool(pool, rawOrigin, { method: 'POST', path: '/length', body: 'x' });
    expect(answer).toMatchObject({ status: 200, body: 'hello world' });
    const sent = rawRequests.slice(before);
    expect(sent.map(({ connection }) => connection)).toEqual([sent[0]!.connection, sent[0]!.connection, sent[0]!.connection + 1]);

    // On a new socket (nothing kept), no second try: the server is refusing, not closing an idle socket.
    onRawRequest = (_, __, socket) => (socket.resetAndDestroy(), 'handled');
    const fresh = rawRequests.length;
    await expect(viaPool(new Http1Pool(), rawOrigin, { method: 'GET', path: '/length' })).rejects.toThrow(/ECONNRESET/);
    expect(rawRequests.length - fresh).toBe(1);
  });

  it('never sends a request again once a byte of its answer arrived', async () => {
    onRawRequest = (_, index, socket) => {
      if (index === 0) return 'answer';
      socket.end('HTTP/1.1 200 OK\r\nContent-Le');
      return 'handled';
    };
    const before = rawRequests.length;
    await viaPool(pool, rawOrigin, { method: 'GET', path: '/length' });
    await expect(viaPool(pool, rawOrigin, { method: 'POST', path: '/length', body: 'x' })).rejects.toThrow(/closed the connection before the response was complete/);
    expect(rawRequests.length - before).toBe(2);
  });

  it('gives up after the timeout, destroys the socket and does not reuse it', async () => {
    const before = nodeConnections;
    await viaPool(pool, nodeOrigin, { method: 'GET', path: '/empty' });
    await expect(viaPool(pool, nodeOrigin, { method: 'GET', path: '/hang' }, 100)).rejects.toThrow('GET http://127.0.0.1');
    expect(hung!.destroyed || (await Promise.race([once(hung!, 'close').then(() => true), sleep(1_000).then(() => false)]))).toBe(true);
    await expect(viaPool(pool, nodeOrigin, { method: 'GET', path: '/slow' }, 100)).rejects.toThrow(/did not answer within 100 ms/);
    expect(pool.idleSockets).toBe(0);
    expect((await viaPool(pool, nodeOrigin, { method: 'GET', path: '/empty' })).status).toBe(200);
    expect(nodeConnections - before).toBe(3);
  });

  it('closes an idle socket after its idle time', async () => {
    const short = new Http1Pool({ idleMs: 50 });
    onRawRequest = (_, __, socket) => {
      socket.write(rawAnswers['/length']!.bytes);
      socket.once('end', () => socket.end());
      return 'handled';
    };
    const before = rawConnections;
    await viaPool(short, rawOrigin, { method: 'GET', path: '/length' });
    expect(short.idleSockets).toBe(1);
    await sleep(200);
    expect(short.idleSockets).toBe(0);
    await viaPool(short, rawOrigin, { method: 'GET', path: '/length' });
    expect(rawConnections - before).toBe(2);
    short.close();
  });

  it('does not reuse a socket idle past its idle time whose timer never ran (a Lambda environment frozen meanwhile)', async () => {
    const frozen = new Http1Pool({ idleMs: 60_000 });
    const before = nodeConnections;
    await viaPool(frozen, nodeOrigin, { method: 'GET', path: '/empty' });
    await viaPool(frozen, nodeOrigin, { method: 'GET', path: '/empty' });
    expect(nodeConnections - before).toBe(1);
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000); // the wall clock moved on; the socket's idle timer did not fire
    try {
      expect((await viaPool(frozen, nodeOrigin, { method: 'GET', path: '/empty' })).status).toBe(200);
    } finally {
      vi.restoreAllMocks();
    }
    expect(nodeConnections - before).toBe(2);
    frozen.close();
  });

  it('names the endpoint in a failed request\'s error, keeping the socket error\'s code', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await pool.request({ method: 'POST', url: new URL(`http://127.0.0.1:${port}/x`), body: '{}', timeoutMs: 2_000 }).then(
      () => Object.assign(new Error('answered'), { code: undefined as string | undefined }),
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error.message).toMatch(new RegExp(`^POST http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('does not keep the process alive with an idle socket', async () => {
    const script = `import { Http1Pool } from './functions/shared/http1.ts';
      const answer = await new Http1Pool({ idleMs: 60_000 }).request({ method: 'GET', url: new URL('${rawOrigin}/length'), timeoutMs: 5000 });
      console.log(answer.status);`;
    // The raw server keeps an idle socket open: only the client's unref lets the process end.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const started = Date.now();
    const [code] = await once(child, 'exit');
    expect({ code, output: output.trim() }).toEqual({ code: 0, output: '200' });
    expect(Date.now() - started).toBeLessThan(20_000); // well before the idle time would close the socket
  });

  it('refuses a header that would break the request', async () => {
    await expect(viaPool(pool, nodeOrigin, { method: 'GET', path: '/empty', headers: { 'x-a': 'b\r\nx-injected: 1' } })).rejects.toThrow(TypeError);
  });
});

// A self-signed certificate for localhost, made by the openssl CLI (node:crypto cannot make certificates).
const openssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!openssl)('http1 over TLS', () => {
  let cert = '';
  let key = '';
  let tlsConnections = 0;
  let origin = '';
  const secure = createHttpsServer((req, res) => {
    // The name the client asked for (SNI), or false.
    const servername = (req.socket as TLSSocket).servername;
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.url === '/large' ? large : `secure ${req.method} to ${servername}: ${euro}`);
  });
  secure.on('secureConnection', () => tlsConnections++);

  beforeAll(async () => {
    const pem = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', '-', '-out', '-'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    ).toString();
    key = /-----BEGIN PRIVATE KEY-----[^]*?-----END PRIVATE KEY-----\n/.exec(pem)![0];
    cert = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\n/.exec(pem)![0];
    secure.setSecureContext({ key, cert });
    await listening(secure);
    origin = `https://localhost:${(secure.address() as AddressInfo).port}`;
  });
  afterAll(() => closed(secure));

  it('answers as node:https does, names the host (SNI) and reuses the socket', async () => {
    const tls = new Http1Pool({ ca: cert });
    const before = tlsConnections;
    for (const path of ['/a', '/large', '/b']) {
      const ours = await viaPool(tls, origin, { method: 'POST', path, body: 'x' });
      expect(compared(ours)).toEqual(compared(await viaNode(origin, { method: 'POST', path, body: 'x' }, cert)));
      if (path !== '/large') expect(ours.body).toMatch(/^secure POST to localhost: /);
    }
    expect(tlsConnections - before).toBe(1 + 3); // ours, kept; node:https's, one each
    tls.close();
  });

  it('verifies the certificate', async () => {
    await expect(viaPool(pool, origin, { method: 'GET', path: '/' })).rejects.toThrow(/self[- ]signed/i);
    const other = new Http1Pool({ ca: cert });
    await expect(viaPool(other, origin.replace('localhost', '127.0.0.1'), { method: 'GET', path: '/' })).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
    other.close();
  });
});
