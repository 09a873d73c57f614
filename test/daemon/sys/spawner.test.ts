import test from 'ava';
import { realSpawner, LineQueue } from '../../../daemon/sys/spawner.js';

test('realSpawner streams stdout and stderr lines and reports the exit code', async (t) => {
  const child = realSpawner.spawn({ name: 'sh', argv: ['sh', '-c', 'echo one; echo two >&2; printf tail; exit 3'] });
  t.true(child.pid > 1);
  const lines: string[] = [];
  for await (const line of child.lines) lines.push(line);
  t.deepEqual([...lines].sort(), ['one', 'tail', 'two']);
  t.deepEqual(await child.exited, { code: 3, signal: null });
  t.false(child.kill('SIGTERM'), 'kill after exit reports false');
});

test('realSpawner passes env and kill ends the child with the signal', async (t) => {
  const child = realSpawner.spawn({ name: 'env', argv: ['sh', '-c', 'echo "v=$RN_TEST_VAR"; exec sleep 30'], env: { RN_TEST_VAR: 'x1' } });
  const it = child.lines[Symbol.asyncIterator]();
  t.deepEqual(await it.next(), { value: 'v=x1', done: false });
  t.true(child.kill('SIGTERM'));
  t.deepEqual(await child.exited, { code: null, signal: 'SIGTERM' });
});

test('realSpawner throws RN_CHILD_SPAWN_FAILED for a missing program', (t) => {
  t.throws(() => realSpawner.spawn({ name: 'x', argv: ['/nonexistent/rn-no-such-program'] }), { code: 'RN_CHILD_SPAWN_FAILED' } as never);
  t.throws(() => realSpawner.spawn({ name: 'x', argv: [] }), { code: 'RN_CHILD_SPAWN_FAILED' } as never);
});

test('LineQueue drops the oldest lines beyond its bound', async (t) => {
  const q = new LineQueue(3);
  for (const l of ['a', 'b', 'c', 'd', 'e']) q.push(l);
  q.end();
  const got: string[] = [];
  for await (const l of q) got.push(l);
  t.deepEqual(got, ['c', 'd', 'e']);
  t.is(q.droppedLines, 2);
});
