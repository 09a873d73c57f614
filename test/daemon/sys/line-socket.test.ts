import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { LineSocket } from '../../../daemon/sys/line-socket.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { tempSocketPath } from '../../fakes/fake-line-server.js';

/** A server that writes `chunks` to each connection, one write per chunk, then optionally closes it. */
async function server(t: { teardown(fn: () => void): void }, chunks: string[], options: { close?: boolean; gapMs?: number } = {}): Promise<string> {
  const path = tempSocketPath(t, 'lines', 'lines.sock');
  const sockets = new Set<Socket>();
  const srv = createServer(async (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    for (const c of chunks) {
      s.write(c);
      await new Promise((r) => setTimeout(r, options.gapMs ?? 5));
    }
    if (options.close) s.end();
  });
  await new Promise<void>((r) => srv.listen(path, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return path;
}

test('lines are framed across chunks, with CR LF and empty lines, in order', async (t) => {
  const path = await server(t, ['one\r\ntw', 'o\n\nthr', 'ee\nfour', '\n'], { close: true });
  const socket = await LineSocket.connect(path, systemClock, 5000);
  const lines: string[] = [];
  for (let l = await socket.nextLine(); l !== undefined; l = await socket.nextLine()) lines.push(l);
  t.deepEqual(lines, ['one', 'two', '', 'three', 'four']);
});

test('drain hands the queued lines first, then each line as it comes, and resolves when the peer closes', async (t) => {
  const path = await server(t, ['banner\nqueued 1\nqueued 2\n', 'live 1\nli', 've 2\n'], { close: true, gapMs: 30 });
  const socket = await LineSocket.connect(path, systemClock, 5000);
  t.is(await socket.nextLine(), 'banner');
  const lines: string[] = [];
  await socket.drain((l) => lines.push(l));
  t.deepEqual(lines, ['queued 1', 'queued 2', 'live 1', 'live 2']);
  t.true(socket.closed);
  t.is(await socket.nextLine(), undefined);
});

test('drain resolves when we close the socket ourselves', async (t) => {
  const path = await server(t, ['a\n']);
  const socket = await LineSocket.connect(path, systemClock, 5000);
  const lines: string[] = [];
  const done = socket.drain((l) => {
    lines.push(l);
    socket.close();
  });
  await done;
  t.deepEqual(lines, ['a']);
  t.is(socket.closeReason, 'closed by us');
});
