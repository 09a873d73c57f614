import test from 'ava';
import { EventLog, eventText } from '../../daemon/events.js';
import { FakeClock } from '../fakes/fake-clock.js';

test('EventLog keeps the newest lines, counts the dropped ones, and logs each line', (t) => {
  const clock = new FakeClock(5);
  const logged: string[] = [];
  const events = new EventLog({ clock, log: (l) => logged.push(l.text) }, 3);
  for (const i of [1, 2, 3, 4, 5]) events.add('daemon', `line ${i}`);
  t.deepEqual(events.list().map((l) => l.text), ['line 3', 'line 4', 'line 5']);
  t.deepEqual(events.list(2).map((l) => l.text), ['line 4', 'line 5']);
  t.is(events.dropped, 2);
  t.is(logged.length, 5);
  t.is(events.list()[0]!.atMs, 5);
});

test('event wording matches the documented lines', (t) => {
  t.is(eventText.linkEstablished('fd5e:1:2:7::/64', '10.1.0.7:1195'), 'link with fd5e:1:2:7::/64 established via 10.1.0.7:1195/udp');
  t.is(eventText.peerDead('fd5e:1:2:7::/64', 3, 'connection refused'), 'peer fd5e:1:2:7::/64 marked dead: 3 failed attempts (connection refused)');
  t.is(eventText.linkLost('fd5e:1:2:7::/64', 'openvpn exited with code 1'), 'link with fd5e:1:2:7::/64 lost (openvpn exited with code 1)');
});

test('EventLog hands every line to its sink once; a sink that throws does not break the caller', (t) => {
  const clock = new FakeClock(7);
  const kept: string[] = [];
  const events = new EventLog({ clock, sink: { push: (l) => kept.push(`${l.atMs} ${l.peer ?? '-'} ${l.text}`) } }, 2);
  events.add('link-lost', 'a', 'fd5e:1:2:7::/64');
  events.add('daemon', 'b');
  events.add('daemon', 'c');
  t.deepEqual(kept, ['7 fd5e:1:2:7::/64 a', '7 - b', '7 - c']); // the sink keeps what the ring drops
  const failing = new EventLog({ clock, sink: { push: () => { throw new Error('disk full'); } } });
  t.is(failing.add('daemon', 'still logged').text, 'still logged');
  t.is(failing.list().length, 1);
});
