/**
 * The deadline's verdict after a busy event loop: an answer already sitting in
 * a socket when the timer comes due is the store's answer, not a timeout.
 * A real loopback socket in this process (no service): the peer writes before
 * the loop is blocked, so the bytes are in the kernel while the timer expires.
 */
import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { settleBy } from '../../../src/serving/call.ts';
import { withDeadline } from '../../../src/serving/deadline.ts';

const sockets: Socket[] = [];
const closers: Array<() => void> = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of closers.splice(0)) c();
});

/** A connected pair: `ours` reads, `peer` writes. */
async function socketPair(): Promise<{ ours: Socket; peer: Socket }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const port = (server.address() as { port: number }).port;
  const ours = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => ours.once('connect', resolve));
  const peer = await accepted;
  sockets.push(ours, peer);
  return { ours, peer };
}

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the event loop is blocked, as by a long GC pause or a burst of requests
  }
}

/**
 * Starts `race` over a read of the next bytes on the socket, has the peer write them,
 * then blocks the loop past the timer from a setImmediate callback: the next thing
 * the loop does is run due timers, before it polls the socket.
 */
async function answeredDuringBusyLoop<T>(race: (reply: Promise<string>) => Promise<T>, timerMs: number): Promise<T> {
  const { ours, peer } = await socketPair();
  return new Promise<T>((resolve, reject) => {
    setImmediate(() => {
      const reply = new Promise<string>((r) => ours.once('data', (d: Buffer) => r(d.toString())));
      race(reply).then(resolve, reject);
      peer.write('pong');
      busyFor(timerMs * 4);
    });
  });
}

describe('withDeadline after a busy event loop', () => {
  it('takes an answer that arrived while the loop was blocked past the timer', async () => {
    await expect(answeredDuringBusyLoop((reply) => withDeadline(reply, 5, 'read'), 5)).resolves.toBe('pong');
  });

  it('still times out work that never answers', async () => {
    await expect(withDeadline(new Promise<never>(() => undefined), 5, 'read')).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it("a call's settleBy sees the same answer settled, not its timer", async () => {
    const settled = await answeredDuringBusyLoop(async (reply) => {
      let done = false;
      await settleBy([reply.then(() => void (done = true))], performance.now() + 5);
      return done;
    }, 5);
    expect(settled).toBe(true);
  });
});
