import test from 'ava';
import { overlayAddress, parseTokenOutput } from '../../lab/orchestrate.js';
import { assertLabPrerequisites, missingTools, resolveArgv } from '../../lab/preflight.js';

test('token from `registry token add`: plain line or JSON', (t) => {
  t.is(parseTokenOutput('3f9a1c2b.XXXXyyyy\n'), '3f9a1c2b.XXXXyyyy');
  t.is(parseTokenOutput('{"token":"abc.def","id":"x"}'), 'abc.def');
  t.throws(() => parseTokenOutput('  \n'), { message: /printed no token/ });
});

test('overlay address is PREFIX::1', (t) => {
  t.is(overlayAddress('fd15:6c4:8200:3::/64'), 'fd15:6c4:8200:3::1');
  t.is(overlayAddress('fd15:6c4:8200::/64'), 'fd15:6c4:8200::1');
  t.is(overlayAddress('fd00:1:2:3:4:5:6:0/112'), 'fd00:1:2:3:4:5:6:1');
});

test('preflight: not root, then missing tools named with their Debian packages', (t) => {
  const none = () => undefined;
  t.is((t.throws(() => assertLabPrerequisites(1000, () => '/bin/x')) as { code?: string }).code, 'RN_LAB_NOT_ROOT');
  const err = t.throws(() => assertLabPrerequisites(0, (name) => (name === 'stund' || name === 'upnpc' ? undefined : `/usr/bin/${name}`))) as { code?: string; message: string };
  t.is(err.code, 'RN_LAB_TOOL_MISSING');
  t.regex(err.message, /stund, upnpc|upnpc, stund/);
  t.regex(err.message, /apt-get install --no-install-recommends (stun-server miniupnpc|miniupnpc stun-server)/);
  const all = missingTools(none);
  t.is(all.length, 10);
  t.deepEqual(all.find((m) => m.tool === 'fping'), { tool: 'fping', pkg: 'fping' });
  t.notThrows(() => assertLabPrerequisites(0, (name) => `/usr/bin/${name}`));
});

test('commands run by absolute path, also the one after `ip netns exec NS`', (t) => {
  const argv = resolveArgv(['ip', 'netns', 'exec', 'rnx-n1', 'nft', '-f', '-']);
  t.true(argv[0]!.startsWith('/') && argv[0]!.endsWith('/ip'));
  t.is(argv[3], 'rnx-n1');
  t.true(argv[4]!.startsWith('/') && !argv[4]!.includes('node_modules'), argv[4]);
});
