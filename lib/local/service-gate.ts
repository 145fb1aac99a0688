import { connect, createServer, type Socket } from 'node:net';

export interface ServiceGate {
  /** The loopback port the gate listens on: what the functions are given instead of the service's. */
  port: number;
  /** Whether the service is reachable through the gate. */
  readonly up: boolean;
  /** The service goes away: open connections are cut, new ones are reset as soon as they are made. */
  down(): void;
  /** The service is back: new connections reach it again. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP pass-through in front of one of the local runtime's services (PostgreSQL, the DynamoDB emulator),
 * so a GameDay can take that service away and bring it back without stopping it: what the functions see is what a
 * failed-over database or an unreachable DynamoDB endpoint does to them (connections reset), whichever server is
 * behind (PGlite or a real PostgreSQL the runtime does not own), and the service keeps its data.
 */
export async function startServiceGate(target: { host: string; port: number }): Promise<ServiceGate> {
  const open = new Set<Socket>();
  let up = true;
  const server = createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = connect(target.port, target.host);
    open.add(client).add(upstream);
    const close = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream).pipe(client);
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  return {
    port: (server.address() as { port: number }).port,
    get up() {
      return up;
    },
    down() {
      up = false;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const socket of open) socket.destroy();
        server.close(() => done());
      }),
  };
}
