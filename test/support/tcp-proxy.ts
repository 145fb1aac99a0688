import { createServer, connect, type Socket } from 'node:net';

/** A loopback TCP proxy in front of the database that can cut connections, for fault tests. */
export async function tcpProxy(target: { host: string; port: number }) {
  const pairs = new Set<[Socket, Socket]>();
  let dropNext = false;
  let dropNextAnswer = false;
  let stalled = false;
  let rejectNextLogin: string | null = null;
  const server = createServer((client) => {
    if (rejectNextLogin) {
      // Answer the startup message with a FATAL error, as a server refusing the login would.
      const code = rejectNextLogin;
      rejectNextLogin = null;
      client.once('data', () => client.end(errorResponse(code, 'password authentication failed')));
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    let answerToDrop = false;
    client.on('data', (chunk) => {
      const statement = chunk[0] === 0x51 /* Q */ || chunk[0] === 0x50; /* P */
      // Cut the connection as the next statement is sent: the server never runs it.
      if (dropNext && statement) {
        dropNext = false;
        return close();
      }
      if (dropNextAnswer && statement) {
        dropNextAnswer = false;
        answerToDrop = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      // The server ran (and committed) the statement; cut the connection before the client hears so.
      if (answerToDrop) return close();
      // While stalled, the server's answers are swallowed: the client waits as on a hung database.
      if (!stalled) client.write(chunk);
    });
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as { port: number }).port,
    /** The next statement runs, but the connection is cut before its answer reaches the client. */
    dropNextAnswer() {
      dropNextAnswer = true;
    },
    /** Stop (or resume) passing the server's answers on. */
    stall(on: boolean) {
      stalled = on;
    },
    /** The next new connection is refused at login with this SQLSTATE. */
    rejectNextLogin(code: string) {
      rejectNextLogin = code;
    },
    /** The next statement sent on any connection kills that connection instead. */
    dropNextStatement() {
      dropNext = true;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const [a, b] of pairs) (a.destroy(), b.destroy());
        server.close(() => done());
      }),
  };
}

function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}
