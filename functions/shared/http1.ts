import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/*
 * A minimal HTTP/1.1 client over kept-alive node:net / node:tls sockets, one pool per origin: every signed AWS call
 * (sigv4.ts's signedService: DynamoDB, SQS, Lambda, AWS Backup) and the @connections posts. Written by hand for the
 * bundle budget (undici, the library for this, bundles to ~416 KB against 250 KB a function) and for CPU: a fan-out
 * shard makes hundreds of small posts to one host, and node:http's ClientRequest, Agent and streams cost twice the
 * CPU a post (a post to @connections, signing included: ~190 µs against ~95 here); fetch cost a read request half its
 * CPU. It sends one request at a time per socket (no pipelining) and buffers the body. test/unit/http1.test.ts pins
 * it to node:http.
 */

export interface Http1Request {
  method: string;
  url: URL;
  /** Header names in lower case, values in visible ASCII; `host` and `content-length` are added unless given. */
  headers?: Record<string, string>;
  body?: string;
  /** For the whole exchange, a retry included; the socket is destroyed when it runs out. */
  timeoutMs: number;
}

export interface Http1Response {
  status: number;
  /** Names in lower case; a repeated header's values joined with ', '. */
  headers: Record<string, string>;
  body: string;
}

// Closed by us before the server does: Node's servers close an idle socket after 5 s (keepAliveTimeout), and a
// request written as the server closes is the one race a keep-alive client has; the retry below covers the rest.
const IDLE_MS = 4_000;
const MAX_LINE = 64 * 1024; // a head, a chunk size or a trailer line longer than this is not an answer we expect
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VALUE = /^[\t\x20-\x7e]*$/; // what we send
const FIELD = /^[\t\x20-\x7e\x80-\xff]*$/; // what we read: no CR, LF or NUL within a value
const EMPTY = Buffer.alloc(0);

type Phase = 'head' | 'length' | 'close' | 'size' | 'data' | 'crlf' | 'trailer' | 'done';

class Malformed extends Error {}

/** One request's answer as it is read: the parser's state, fed whatever the socket gives. */
class Exchange {
  phase: Phase = 'head';
  pending: Buffer = EMPTY; // bytes of an incomplete line (head, chunk size, trailer)
  remaining = 0; // body bytes still to come (content-length, chunk)
  received = false;
  reusable = false;
  status = 0;
  headers: Record<string, string> = {};
  parts: Buffer[] = [];
  constructor(readonly noBody: boolean, readonly settle: (error: Error | undefined) => void) {}

  /** Reads `chunk`; true when the answer is complete (any byte left over makes the socket unfit to reuse). */
  feed(chunk: Buffer): boolean {
    this.received = true;
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let at = 0;
    for (;;) {
      if (this.phase === 'done') {
        this.reusable &&= at === buf.length; // bytes past the answer: the socket is not to be trusted again
        return true;
      }
      if (this.phase === 'close') {
        this.parts.push(buf.subarray(at));
        return false;
      }
      if (this.phase === 'length' || this.phase === 'data') {
        const n = Math.min(this.remaining, buf.length - at);
        if (n > 0) this.parts.push(buf.subarray(at, (at += n)));
        if ((this.remaining -= n) > 0) return false;
        this.phase = this.phase === 'length' ? 'done' : 'crlf';
        continue;
      }
      // The rest read a line: wait for its CRLF (the head's: an empty line).
      const end = buf.indexOf(this.phase === 'head' ? '\r\n\r\n' : '\r\n', at, 'latin1');
      if (end < 0 || (this.phase === 'crlf' && end !== at)) {
        if (this.phase === 'crlf' && buf.length - at >= 2) throw new Malformed('a chunk is longer than its size');
        if (buf.length - at > MAX_LINE) throw new Malformed(`a ${this.phase === 'head' ? 'head' : 'line'} longer than ${MAX_LINE} bytes`);
        this.pending = buf.subarray(at);
        return false;
      }
      const line = buf.toString('latin1', at, end);
      at = end + (this.phase === 'head' ? 4 : 2);
      if (this.phase === 'head') this.readHead(line.split('\r\n'));
      else if (this.phase === 'crlf') this.phase = 'size';
      else if (this.phase === 'size') {
        // A size, then maybe extensions (;name=value), which mean nothing to us.
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) throw new Malformed(`chunk size ${JSON.stringify(line.slice(0, 40))}`);
        this.remaining = parseInt(size[1]!, 16);
        this.phase = this.remaining > 0 ? 'data' : 'trailer';
      } else if (line === '') this.phase = 'done'; // the end of the trailers, which are read past
      else if (!/^[^:\s]+:/.test(line)) throw new Malformed(`trailer ${JSON.stringify(line.slice(0, 40))}`);
    }
  }

  private readHead(lines: string[]): void {
    const start = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: .*)?$/.exec(lines[0]!);
    if (!start) throw new Malformed(`status line ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const status = Number(start[2]);
    if (status === 101) throw new Malformed('101 Switching Protocols, which was not asked for');
    if (status < 200) return; // 100 Continue and the like come before the answer: read on
    const headers = Object.create(null) as Record<string, string>; // a header named __proto__ is a header
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const [name, value] = [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')];
      if (colon <= 0 || !TOKEN.test(name) || !FIELD.test(value)) throw new Malformed(`header line ${JSON.stringify(line.slice(0, 40))}`);
      const key = name.toLowerCase();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    const connection = headers.connection?.toLowerCase() ?? '';
    this.reusable = start[1] === '1' ? !/(?:^|,)[ \t]*close[ \t]*(?:,|$)/.test(connection) : /(?:^|,)[ \t]*keep-alive[ \t]*(?:,|$)/.test(connection);
    const te = headers['transfer-encoding'];
    const length = headers['content-length'];
    if (this.noBody || status === 204 || status === 304) this.phase = 'done';
    else if (te !== undefined) {
      // Both framings at once is how requests get smuggled: refused, as llhttp refuses it.
      if (length !== undefined) throw new Malformed('both transfer-encoding and content-length');
      this.phase = /(?:^|,)[ \t]*chunked[ \t]*$/i.test(te) ? 'size' : 'close';
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) throw new Malformed(`content-length ${JSON.stringify(length.slice(0, 40))}`);
      this.remaining = Number(length);
      this.phase = this.remaining > 0 ? 'length' : 'done';
    } else this.phase = 'close';
    if (this.phase === 'close') this.reusable = false; // its end is the socket's
    this.status = status;
    this.headers = headers;
  }
}

/** A socket and its exchange under way (none: idle); `reused` once taken from the pool. */
type Connection = { socket: Socket; exchange: Exchange | undefined; reused: boolean; idleSince?: number };

export class Http1Pool {
  private readonly idle = new Map<string, Connection[]>();

  /** `ca`: the certificates to trust instead of Node's own (a test's self-signed one). */
  constructor(private readonly options: { idleMs?: number; ca?: string | Buffer } = {}) {}

  request(request: Http1Request): Promise<Http1Response> {
    const { method, url, headers = {}, body, timeoutMs } = request;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`not an http(s) URL: ${url.protocol}`));
    let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
    if (headers.host === undefined) head += `host: ${url.host}\r\n`;
    for (const name in headers) {
      const value = headers[name]!;
      if (!TOKEN.test(name) || !VALUE.test(value)) return Promise.reject(new TypeError(`header ${JSON.stringify(name)} cannot be sent`));
      head += `${name}: ${value}\r\n`;
    }
    if (headers['content-length'] === undefined && (body !== undefined || /^(?:POST|PUT|PATCH)$/.test(method))) head += `content-length: ${body === undefined ? 0 : Buffer.byteLength(body)}\r\n`;
    const message = `${head}\r\n${body ?? ''}`;
    const origin = url.origin;
    return new Promise((resolve, reject) => {
      let connection: Connection | undefined;
      let retried = false;
      const timer = setTimeout(() => {
        if (connection) {
          connection.exchange = undefined;
          connection.socket.destroy();
        }
        reject(new Error(`${method} ${origin} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const attempt = (fresh: boolean) => {
        const current = (fresh ? undefined : this.take(origin)) ?? this.open(url);
        connection = current;
        const exchange: Exchange = new Exchange(method === 'HEAD', (error) => {
          current.exchange = undefined;
          if (error === undefined) {
            clearTimeout(timer);
            if (exchange.reusable) this.release(origin, current);
            else current.socket.destroy();
            resolve({ status: exchange.status, headers: exchange.headers, body: exchange.parts.length === 1 ? exchange.parts[0]!.toString() : Buffer.concat(exchange.parts).toString() });
            return;
          }
          current.socket.destroy();
          // A kept-alive socket the server closed between requests fails before any answer: once more, anew, whatever
          // the method (as the AWS SDK resends on a reset connection; a server that applied a request and then reset
          // before any byte of its answer is the rare case where a write lands twice). After a byte of an answer,
          // the request was read, and a second one could be done twice.
          if (current.reused && !exchange.received && !retried) {
            retried = true;
            attempt(true);
            return;
          }
          clearTimeout(timer);
          // Named after the endpoint, as fetch's errors were: a bare "read ECONNRESET" does not say which service.
          const message = error instanceof Malformed ? `malformed HTTP/1.1 response: ${error.message}` : error.message;
          reject(Object.assign(new Error(`${method} ${origin}: ${message}`, { cause: error }), 'code' in error ? { code: error.code } : {}));
        });
        current.exchange = exchange;
        current.socket.write(message);
      };
      attempt(false);
    });
  }

  /** Closes the idle sockets (those under way close when their exchange ends). */
  close(): void {
    for (const connections of this.idle.values()) for (const { socket } of [...connections]) socket.destroy();
    this.idle.clear();
  }

  /** How many idle sockets the pool keeps, all origins together. */
  get idleSockets(): number {
    return [...this.idle.values()].reduce((count, connections) => count + connections.length, 0);
  }

  private take(origin: string): Connection | undefined {
    const connections = this.idle.get(origin);
    let connection: Connection | undefined;
    // Past its idle time too: a Lambda environment frozen for longer never ran the idle timer, and a peer that dropped the
    // socket silently meanwhile would hold the request until its timeout.
    const stale = (c: Connection) => c.socket.destroyed || !c.socket.writable || Date.now() - (c.idleSince ?? 0) >= (this.options.idleMs ?? IDLE_MS);
    while ((connection = connections?.pop()) && stale(connection)) connection.socket.destroy();
    if (!connection) return undefined;
    connection.reused = true;
    connection.socket.ref();
    connection.socket.setTimeout(0);
    return connection;
  }

  // Idle, a socket does not keep the process alive, and closes after IDLE_MS.
  private release(origin: string, connection: Connection): void {
    connection.socket.unref();
    connection.idleSince = Date.now();
    connection.socket.setTimeout(this.options.idleMs ?? IDLE_MS);
    const connections = this.idle.get(origin);
    if (connections) connections.push(connection);
    else this.idle.set(origin, [connection]);
  }

  private open(url: URL): Connection {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const socket =
      url.protocol === 'https:'
        ? tlsConnect({ host, port, ALPNProtocols: ['http/1.1'], ...(isIP(host) ? {} : { servername: host }), ...(this.options.ca ? { ca: this.options.ca } : {}) })
        : netConnect({ host, port });
    socket.setNoDelay(true);
    const connection: Connection = { socket, exchange: undefined, reused: false };
    const origin = url.origin;
    socket.on('data', (chunk: Buffer) => {
      const exchange = connection.exchange;
      if (!exchange) return void socket.destroy(); // an idle socket has nothing to say
      let complete: boolean;
      try {
        complete = exchange.feed(chunk);
      } catch (error) {
        return exchange.settle(error as Error);
      }
      if (complete) exchange.settle(undefined);
    });
    // The server's end: a body read to close is complete; anything else under way failed.
    socket.on('end', () => {
      const exchange = connection.exchange;
      if (exchange?.phase === 'close') exchange.settle(undefined);
      else exchange?.settle(new Error(`${origin} closed the connection before the response was complete`));
    });
    socket.on('error', (error) => connection.exchange?.settle(error));
    socket.on('close', () => {
      // An idle socket the server closed (FIN or RST) leaves the pool.
      const idle = this.idle.get(origin);
      if (idle?.includes(connection)) idle.splice(idle.indexOf(connection), 1);
      connection.exchange?.settle(new Error(`the connection to ${origin} closed before the response was complete`));
    });
    socket.on('timeout', () => socket.destroy()); // set only while idle
    return connection;
  }
}
