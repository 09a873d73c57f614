import test from 'ava';
import { buildBabeldArgv, renderBabeldArgv, defaultHelloLine, drainInterfaceLine, flushInterfaceLine, interfaceLine, PLACEHOLDER_INTERFACE } from '../../../daemon/babel/argv.js';

const spec = {
  socketPath: '/run/resilnet/babeld.sock',
  stateFile: '/var/lib/resilnet/babeld.state',
  helloIntervalSec: 1,
  ownPrefix: 'fd5e:1:2:7::/64',
  nodeAddress: 'fd5e:1:2:7::1',
  interfaces: ['rn0123456789abc'],
};

test('babeld argv (golden)', (t) => {
  t.is(
    renderBabeldArgv(buildBabeldArgv(spec)),
    `babeld
-G /run/resilnet/babeld.sock
-I ""
-S /var/lib/resilnet/babeld.state
-h 1
-H 1
-C "random-id true"
-C "default type tunnel"
-C "redistribute local deny"
-C "redistribute ip fd5e:1:2:7::/64 eq 64"
-C "redistribute deny"
-C "install pref-src fd5e:1:2:7::1"
rn0123456789abc
`,
  );
});

test('babeld argv without interfaces uses the placeholder; fractional hello', (t) => {
  const argv = buildBabeldArgv({ ...spec, interfaces: [], helloIntervalSec: 0.5 });
  t.is(argv.at(-1), PLACEHOLDER_INTERFACE);
  t.is(argv[argv.indexOf('-H') + 1], '0.5');
  t.true(PLACEHOLDER_INTERFACE.length <= 15);
  t.false(argv.includes('-D'), 'stays in the foreground for the supervisor');
});

test('runtime statements', (t) => {
  t.is(interfaceLine('rnabc', 1), 'interface rnabc type tunnel hello-interval 1');
  t.is(interfaceLine('rnabc', 0.25), 'interface rnabc type tunnel hello-interval 0.25');
  t.is(flushInterfaceLine('rnabc'), 'flush interface rnabc');
  t.is(drainInterfaceLine('rnabc', 4), 'interface rnabc type tunnel hello-interval 4 rxcost 4096');
  t.is(defaultHelloLine(2), 'default hello-interval 2');
});
