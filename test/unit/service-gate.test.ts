import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceGate, type ServiceGate } from '../../lib/local/service-gate';

let echo: Server;
let gate: ServiceGate;

beforeAll(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((done) => echo.listen(0, '127.0.0.1', done));
  gate = await startServiceGate({ host: '127.0.0.1', port: (echo.address() as { port: number }).port });
});

afterAll(async () => {
  await gate.close();
  await new Promise((done) => echo.close(done));
});

/** Connects through the gate, sends `text`; resolves with the echo, or with 'reset' when the connection is cut. */
function roundTrip(text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(gate.port, '127.0.0.1', () => socket.write(text));
    socket.once('data', (data) => (resolve(data.toString()), socket.destroy()));
    socket.once('error', () => resolve('reset'));
    socket.once('close', () => resolve('reset'));
  });
}

describe('the service gate', () => {
  it('passes bytes through, resets connections while down (open ones too), and passes them again once restored', async () => {
    expect(await roundTrip('hello')).toBe('hello');
    const open = connect(gate.port, '127.0.0.1');
    await new Promise((done) => open.once('connect', done));
    await new Promise((done) => setTimeout(done, 20));
    const cut = new Promise((done) => open.once('close', done));
    gate.down();
    expect(gate.up).toBe(false);
    await cut;
    expect(await roundTrip('anyone?')).toBe('reset');
    gate.restore();
    expect(await roundTrip('back')).toBe('back');
  });
});
