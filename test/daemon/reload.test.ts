import test from 'ava';
import { parseNodeConfig } from '../../config/node-config.js';
import { ResilnetError } from '../../config/errors.js';
import { applyReloadPlan, diffConfig, type ReloadTargets } from '../../daemon/reload.js';

const base = `
[registry]
url = "https://10.0.0.1:8443"
[node]
state_dir = "/tmp/x/state"
run_dir = "/tmp/x/run"
`;
const cfg = (extra = '', head = base) => parseNodeConfig(`${head}\n${extra}`, '/etc/resilnet/resilnet.toml');

const cases: Array<{ name: string; extra: string; want: Array<[string, string, string | undefined]>; groups: string[] }> = [
  { name: 'identical files', extra: '', want: [], groups: [] },
  {
    name: 'hello interval override is applied live through babel',
    extra: '[babel]\nhello_interval = 1',
    want: [['babel.hello_interval', 'apply-live', 'babel']],
    groups: ['babel'],
  },
  {
    name: 'tunnel settings are live',
    extra: '[tunnels]\nclient_count = 2\nneighbours = ["fd5e:1:2:7:0::/64"]',
    want: [
      ['tunnels.client_count', 'apply-live', 'tunnels'],
      ['tunnels.neighbours', 'apply-live', 'tunnels'],
    ],
    groups: ['tunnels'],
  },
  {
    name: 'the minimum tunnel age and link liveness are live',
    extra: '[tunnels]\nmin_age = 10\nlink_hello_misses = 6',
    want: [
      ['tunnels.link_hello_misses', 'apply-live', 'tunnels'],
      ['tunnels.min_age', 'apply-live', 'tunnels'],
    ],
    groups: ['tunnels'],
  },
  {
    name: 'the port and the identity need a restart',
    extra: '[underlay]\nport = 2000\n[identity]\nkey = "other.key"',
    want: [
      ['identity.key', 'restart-required', undefined],
      ['underlay.port', 'restart-required', undefined],
    ],
    groups: [],
  },
];

for (const c of cases) {
  test(`diffConfig: ${c.name}`, (t) => {
    const plan = diffConfig(cfg(), cfg(c.extra));
    t.deepEqual(
      plan.changes.map((ch) => [ch.key, ch.action, ch.group]),
      c.want,
    );
    t.deepEqual(plan.groups, c.groups);
  });
}

test('diffConfig: several groups come in a fixed order and carry from/to', (t) => {
  const old = cfg();
  const next = parseNodeConfig(
    `[registry]\nurl = "https://10.0.0.2:8443"\nheartbeat_interval = 5\n[node]\nstate_dir = "/tmp/x/state"\nrun_dir = "/tmp/x/run"\nlog_level = "trace"\n[babel]\nhello_interval = 0.5`,
    '/etc/resilnet/resilnet.toml',
  );
  const plan = diffConfig(old, next);
  t.deepEqual(plan.groups, ['log', 'babel', 'registry']);
  const hello = plan.changes.find((c) => c.key === 'babel.hello_interval');
  t.is(hello?.from, null);
  t.is(hello?.to, 0.5);
  t.deepEqual(
    plan.changes.map((c) => c.key),
    ['babel.hello_interval', 'node.log_level', 'registry.heartbeat_interval', 'registry.url'],
  );
});

test('diffConfig: removing an override is a change back to unset', (t) => {
  const plan = diffConfig(cfg('[babel]\nhello_interval = 2'), cfg());
  t.deepEqual(plan.changes.map((c) => [c.key, c.from, c.to]), [['babel.hello_interval', 2, null]]);
});

function targets(calls: string[], fail: Partial<Record<string, Error>> = {}): ReloadTargets {
  const make = (g: string) => () => {
    calls.push(g);
    if (fail[g]) throw fail[g];
  };
  return { babel: make('babel'), tunnels: make('tunnels'), registry: make('registry'), log: make('log'), underlay: make('underlay'), upnp: make('upnp') };
}

test('applyReloadPlan: applies each changed group once and reports applied/skipped', async (t) => {
  const calls: string[] = [];
  const next = cfg('[babel]\nhello_interval = 1\n[tunnels]\nclient_count = 3\n[underlay]\nport = 4000');
  const report = await applyReloadPlan(diffConfig(cfg(), next), next, targets(calls), { signal: new AbortController().signal });
  t.deepEqual(calls, ['babel', 'tunnels']);
  t.deepEqual(report.applied.map((i) => i.key), ['babel.hello_interval', 'tunnels.client_count']);
  t.deepEqual(report.skipped.map((i) => i.key), ['underlay.port']);
  t.deepEqual(report.failed, []);
  t.false('group' in (report.applied[0] as object));
});

test('applyReloadPlan: a failing part is reported with its code and the others still apply', async (t) => {
  const calls: string[] = [];
  const next = cfg('[babel]\nhello_interval = 1\n[tunnels]\nclient_count = 3');
  const report = await applyReloadPlan(
    diffConfig(cfg(), next),
    next,
    targets(calls, { babel: new ResilnetError('RN_BABEL_UNREACHABLE', 'babeld socket gone') }),
    { signal: new AbortController().signal },
  );
  t.deepEqual(calls, ['babel', 'tunnels']);
  t.deepEqual(report.failed, [{ key: 'babel.hello_interval', code: 'RN_BABEL_UNREACHABLE', message: 'babeld socket gone' }]);
  t.deepEqual(report.applied.map((i) => i.key), ['tunnels.client_count']);
});
