import test from 'ava';
import { formatHostPort, parseHostPort } from '../../../daemon/sys/host-port.js';

test('IPv6 in brackets, IPv4 bare, both ways', (t) => {
  t.is(formatHostPort('2001:db8::7', 1194), '[2001:db8::7]:1194');
  t.is(formatHostPort('10.1.0.7', 1195), '10.1.0.7:1195');
  t.deepEqual(parseHostPort('[2001:db8::7]:1194'), { host: '2001:db8::7', port: 1194 });
  t.deepEqual(parseHostPort('10.1.0.7:1195'), { host: '10.1.0.7', port: 1195 });
  t.deepEqual(parseHostPort(formatHostPort('::ffff:10.0.0.1', 7)), { host: '::ffff:10.0.0.1', port: 7 });
});

test('anything else is not an address', (t) => {
  for (const bad of ['2001:db8::7:1194', 'host.example:1194', '10.1.0.7', '10.1.0.7:0', '10.1.0.7:65536', '[2001:db8::7]', '']) {
    t.is(parseHostPort(bad), undefined, bad);
  }
});
