import test from 'ava';
import { pino } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNodeConfig } from '../../config/node-config.js';
import { nodeAppliers, NodeSettings } from '../../daemon/node/reconfigure.js';
import { NodeUpnp, type Mappings } from '../../daemon/node/upnp.js';
import { applySettings, diffSettings, LiveSettings, planReload, reloadReport, type SliceAppliers, type SliceResult } from '../../daemon/reload.js';
import { effectiveSettings, type Settings } from '../../daemon/settings.js';
import type { UpnpMappingsOptions } from '../../daemon/upnp/mapper.js';
import { FakeClock } from '../fakes/fake-clock.js';
import { network, nodeConfig as cfg } from './settings-fixture.js';

const signal = new AbortController().signal;

const cases: Array<{ name: string; extra: string; want: Array<[string, string[]]> }> = [
  { name: 'identical files', extra: '', want: [] },
  { name: 'the hello interval goes to babel and the drain timing', extra: '[babel]\nhello_interval = 1', want: [['babel.hello_interval', ['babel', 'tunnels']]] },
  { name: 'an override equal to the network value changes nothing that runs', extra: '[babel]\nhello_interval = 4', want: [['babel.hello_interval', []]] },
  { name: 'client_count feeds the planner and the registry bootstrap', extra: '[tunnels]\nclient_count = 2', want: [['tunnels.client_count', ['tunnels', 'registry']]] },
  { name: 'max_clients feeds the tunnel manager and the UPnP port range', extra: '[tunnels]\nmax_clients = 3', want: [['tunnels.max_clients', ['tunnels', 'upnp']]] },
  {
    name: 'tunnel plan settings and link liveness',
    extra: '[tunnels]\nmin_age = 10\nlink_hello_misses = 6\nneighbours = ["fd5e:1:2:7::/64"]',
    want: [['tunnels.link_hello_misses', ['links']], ['tunnels.min_age', ['tunnels']], ['tunnels.neighbours', ['tunnels']]],
  },
  { name: 'log level, announced addresses and the UPnP lease', extra: 'log_level = "debug"\n[underlay]\naddresses = ["192.0.2.1"]\n[upnp]\nlease = 600', want: [['node.log_level', ['log']], ['underlay.addresses', ['underlay']], ['upnp.lease', ['upnp']]] },
  {
    name: 'the port and the identity need a restart',
    extra: '[underlay]\nport = 2000\n[identity]\nkey = "other.key"',
    want: [['identity.key', ['start']], ['underlay.port', ['start', 'tunnels', 'upnp']]],
  },
  { name: 'peer retry timers need a restart (the peer DB is built with them)', extra: '[peers]\nretry_base = 5', want: [['peers.retry_base', ['start']]] },
];

for (const c of cases) {
  test(`planReload: ${c.name}`, (t) => {
    const plan = planReload(cfg(), cfg(c.extra), network);
    t.deepEqual(plan.changes.map((ch) => [ch.key, ch.slices]), c.want);
  });
}

test('planReload: keys that need a restart keep their running values in the config to run with', (t) => {
  const plan = planReload(cfg(), cfg('[underlay]\nport = 2000\n[tunnels]\nmax_clients = 3'), network);
  t.is(plan.config.underlay.port, 1194);
  t.is(plan.config.tunnels.max_clients, 3);
  const next = effectiveSettings(plan.config, network);
  t.deepEqual(next.upnp.ports.map((p) => p.port), [1194, 1195, 1196, 1197], 'the new range starts at the running port');
});

test('planReload: removing an override is a change back to unset', (t) => {
  const plan = planReload(cfg('[babel]\nhello_interval = 2'), cfg(), network);
  t.deepEqual(plan.changes.map((c) => [c.key, c.from, c.to]), [['babel.hello_interval', 2, null]]);
});

/** Appliers that record each slice they get; `results` answers per slice (default: applied). */
function recorder(results: Partial<Record<keyof SliceAppliers, SliceResult | Error>> = {}) {
  const calls: Array<[string, unknown]> = [];
  const make = (name: keyof SliceAppliers) => (slice: unknown) => {
    calls.push([name, slice]);
    const r = results[name];
    if (r instanceof Error) throw r;
    return r ?? ({ applied: true } as const);
  };
  const appliers = Object.fromEntries((['log', 'babel', 'links', 'tunnels', 'registry', 'underlay', 'upnp'] as const).map((n) => [n, make(n)])) as unknown as SliceAppliers;
  return { calls, appliers };
}

async function reload(running: Settings, fileBefore: string, fileAfter: string, results: Parameters<typeof recorder>[0] = {}) {
  const live = new LiveSettings(running);
  const { calls, appliers } = recorder(results);
  const plan = planReload(cfg(fileBefore), cfg(fileAfter), network);
  const outcomes = await applySettings(live, effectiveSettings(plan.config, network), appliers, { signal });
  return { live, calls, report: reloadReport('/etc/resilnet/resilnet.toml', plan, outcomes) };
}

test('a reload pushes each changed slice once, in order, and reports by file key', async (t) => {
  const r = await reload(effectiveSettings(cfg(), network), '', '[babel]\nhello_interval = 0.25\n[tunnels]\nclient_count = 3\n[underlay]\nport = 4000');
  t.deepEqual(r.calls.map(([n]) => n), ['babel', 'tunnels', 'registry']);
  t.deepEqual(r.report.applied.map((i) => [i.key, i.from, i.to]), [['babel.hello_interval', null, 0.25], ['tunnels.client_count', null, 3]]);
  t.deepEqual(r.report.skipped.map((i) => [i.key, i.action]), [['underlay.port', 'restart-required']]);
  t.deepEqual(r.report.failed, []);
  t.deepEqual(r.report.pending, []);
  t.is(r.live.current.babel.helloIntervalSec, 0.25);
  t.is(r.live.current.start.port, 1194);
});

test('[metrics], [lan] and [nat] are read at start: a change is reported as needing a restart, not as applied', async (t) => {
  const r = await reload(effectiveSettings(cfg(), network), '', '[metrics]\nlisten = "127.0.0.1:9400"\n[lan]\ninterfaces = ["eth1"]\n[nat]\ncheck_interval = 120');
  t.deepEqual(r.report.skipped.map((i) => [i.key, i.action]), [['lan.interfaces', 'restart-required'], ['metrics.listen', 'restart-required'], ['nat.check_interval', 'restart-required']]);
  t.deepEqual(r.report.applied, []);
  t.deepEqual(r.calls, []);
});

// Bug 1: the settings were swapped before the parts ran, so status showed a hello interval babeld never ran.
test('a part that fails keeps its old slice in the live settings; the others are applied', async (t) => {
  const before = effectiveSettings(cfg(), network);
  const r = await reload(before, '', '[babel]\nhello_interval = 0.25\n[tunnels]\nlink_hello_misses = 6', {
    babel: new ResilnetError('RN_BABEL_UNREACHABLE', 'babeld socket gone'),
  });
  t.deepEqual(r.calls.map(([n]) => n), ['babel', 'links', 'tunnels']);
  t.is(r.live.current.babel.helloIntervalSec, 4, 'babel still runs the old interval');
  t.deepEqual(r.live.current.links, { helloIntervalSec: 0.25, misses: 6, beats: true, idlePace: 4 });
  t.deepEqual(r.report.failed, [{ key: 'babel.hello_interval', code: 'RN_BABEL_UNREACHABLE', message: 'babeld socket gone; the old value stays in force' }]);
  t.deepEqual(r.report.applied.map((i) => i.key), ['tunnels.link_hello_misses']);
  // The tunnels slice stands on its own: its drain timing already follows the new interval (babel is retried).
  t.is(r.live.current.tunnels.manager.drainTimeoutMs, 20_000);
});

test('a part that has not confirmed yet is pending, and the old value is in force meanwhile', async (t) => {
  const r = await reload(effectiveSettings(cfg(), network), '', '[babel]\nhello_interval = 1', { babel: { applied: false, pending: 'babeld did not answer within 5 s' } });
  t.deepEqual(r.report.pending, [{ key: 'babel.hello_interval', code: 'RN_RELOAD_PENDING', message: 'babeld did not answer within 5 s; the old value is in force until it does' }]);
  t.deepEqual(r.report.applied, []);
  t.is(r.live.current.babel.helloIntervalSec, 4);
});

test('a slice that did not hold is pushed again by the next reload, even with the file unchanged', async (t) => {
  const live = new LiveSettings(effectiveSettings(cfg(), network));
  const failing = recorder({ babel: new Error('slow') });
  const target = effectiveSettings(cfg('[babel]\nhello_interval = 1'), network);
  await applySettings(live, target, failing.appliers, { signal });
  const again = recorder();
  const plan = planReload(cfg('[babel]\nhello_interval = 1'), cfg('[babel]\nhello_interval = 1'), network);
  const outcomes = await applySettings(live, effectiveSettings(plan.config, network), again.appliers, { signal });
  t.deepEqual(again.calls.map(([n]) => n), ['babel']);
  const report = reloadReport('/x.toml', plan, outcomes);
  t.deepEqual(report.applied.map((i) => i.key), ['babel']);
  t.regex(report.applied[0]!.note, /sent again/);
  t.is(live.current.babel.helloIntervalSec, 1);
});

test('diffSettings: a newer network config changes only the slices it feeds', (t) => {
  const before = effectiveSettings(cfg(), network);
  t.deepEqual(diffSettings(before, effectiveSettings(cfg(), { ...network, version: 4 })), []);
  t.deepEqual(diffSettings(before, effectiveSettings(cfg(), { ...network, babel: { hello_interval: 1 } })), ['babel', 'tunnels']);
  t.deepEqual(diffSettings(before, effectiveSettings(cfg(), { ...network, cipher: 'AES-128-GCM' })), ['tunnels']);
  const overridden = effectiveSettings(cfg('[babel]\nhello_interval = 2'), network);
  t.deepEqual(diffSettings(overridden, effectiveSettings(cfg('[babel]\nhello_interval = 2'), { ...network, babel: { hello_interval: 1 } })), [], 'the local override wins, so nothing changes');
});

/** UpnpMappings as NodeUpnp sees it, recording what it was asked. */
function fakeMappings() {
  const asked: Array<[string, number[]]> = [];
  const note = (what: string) => async (o?: UpnpMappingsOptions) => void asked.push([what, o?.ports.map((p) => p.port) ?? []]);
  const mappings: Mappings = { start: note('start'), reconfigure: note('reconfigure'), stop: note('stop') };
  return { asked, mappings };
}

function nodeWithUpnp() {
  const clock = new FakeClock(0);
  const { asked, mappings } = fakeMappings();
  const upnp = new NodeUpnp({ clock, log: pino({ level: 'silent' }), health: { raise: () => undefined, clear: () => false }, onExternalAddress: () => undefined, signal, createMappings: async () => mappings });
  const tunnels: unknown[] = [];
  const appliers = nodeAppliers({
    setLogLevel: () => undefined,
    babel: () => undefined,
    tunnels: () => ({ reconfigure: (o) => void tunnels.push(o.maxClients) }),
    registry: () => undefined,
    upnp: () => upnp,
    replanSoon: () => undefined,
  });
  return { clock, asked, upnp, appliers, tunnels };
}

/** A resilnet.toml on disk (reload reads the file), and a way to rewrite it. */
function tomlFile(extra = '') {
  const path = join(mkdtempSync(join(tmpdir(), 'rn-reload-')), 'resilnet.toml');
  const write = (more: string) => writeFileSync(path, `[registry]\nurl = "https://10.0.0.1:8443"\n[node]\nstate_dir = "/tmp/x/state"\nrun_dir = "/tmp/x/run"\n${more}`);
  write(extra);
  return { path, write };
}

// Bug 2: the `tunnels` reload target did nothing, so the mapped port range went stale.
test('a max_clients change in resilnet.toml re-maps the UPnP port range', async (t) => {
  const n = nodeWithUpnp();
  const file = tomlFile();
  const node = new NodeSettings(loadNodeConfig(file.path), network, {}, n.appliers, signal);
  n.upnp.startLater(node.current.upnp, 3_000);
  await n.clock.advance(3_000);
  t.deepEqual(n.asked, [['start', [1194, ...Array.from({ length: 10 }, (_, i) => 1195 + i)]]]);
  file.write('[tunnels]\nmax_clients = 2');
  const report = await node.reload(() => network);
  t.deepEqual(n.asked.at(-1), ['reconfigure', [1194, 1195, 1196]]);
  t.deepEqual(n.tunnels, [2]);
  t.deepEqual(report.applied.map((i) => [i.key, i.from, i.to]), [['tunnels.max_clients', null, 2]]);
  t.deepEqual(node.current.upnp.ports.length, 3);
});

test('a max_clients change in a newer network config re-maps the UPnP port range too', async (t) => {
  const n = nodeWithUpnp();
  const node = new NodeSettings(cfg(), network, {}, n.appliers, signal);
  await n.upnp.reconfigure(node.current.upnp, { signal }); // started at once (as a reload that enables UPnP does)
  const outcomes = await node.adopt({ ...network, version: 4, max_clients: 1 });
  t.deepEqual(outcomes.map((o) => [o.slice, o.result]), [['tunnels', 'applied'], ['upnp', 'applied']]);
  t.deepEqual(n.asked.at(-1), ['reconfigure', [1194, 1195]]);
  t.is(node.current.tunnels.manager.maxClients, 1);
});

test('an invalid file changes nothing', async (t) => {
  const n = nodeWithUpnp();
  const file = tomlFile('[tunnels]\nmax_clients = 2');
  const node = new NodeSettings(loadNodeConfig(file.path), network, {}, n.appliers, signal);
  file.write('[tunnels]\nmax_clients = "many"');
  await t.throwsAsync(() => node.reload(() => network), { message: /tunnels\.max_clients/ });
  t.is(node.current.tunnels.manager.maxClients, 2);
  t.deepEqual(n.asked, []);
});

test('UPnP turned off by a reload stops the mappings; turned on again starts them', async (t) => {
  const n = nodeWithUpnp();
  const running = effectiveSettings(cfg('[tunnels]\nmax_clients = 1'), network);
  await n.upnp.reconfigure(running.upnp, { signal });
  await n.upnp.reconfigure({ ...running.upnp, enabled: false }, { signal });
  await n.upnp.reconfigure(running.upnp, { signal });
  t.deepEqual(n.asked.map(([w]) => w), ['start', 'stop', 'start']);
});

test('babel answering pending through the node appliers is reported pending, not applied', async (t) => {
  const appliers = nodeAppliers({
    setLogLevel: () => undefined,
    babel: () => ({ reconfigure: async () => ({ applied: false }) }),
    tunnels: () => undefined,
    registry: () => undefined,
    upnp: () => undefined,
    replanSoon: () => undefined,
  });
  const live = new LiveSettings(effectiveSettings(cfg(), network));
  const outcomes = await applySettings(live, effectiveSettings(cfg('[babel]\nhello_interval = 1'), network), appliers, { signal });
  t.deepEqual(outcomes.map((o) => [o.slice, o.result]), [['babel', 'pending'], ['tunnels', 'applied']]);
  t.is(live.current.babel.helloIntervalSec, 4);
});

test('changes run one at a time: the second waits until the first is applied', async (t) => {
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { appliers } = recorder();
  appliers.babel = async (slice) => {
    order.push(`babel ${slice.helloIntervalSec} start`);
    if (slice.helloIntervalSec === 1) await gate;
    order.push(`babel ${slice.helloIntervalSec} done`);
    return { applied: true };
  };
  const node = new NodeSettings(cfg(), network, {}, appliers, signal);
  const first = node.adopt({ ...network, version: 4, babel: { hello_interval: 1 } });
  const second = node.adopt({ ...network, version: 5, babel: { hello_interval: 2 } });
  await Promise.resolve();
  release();
  await Promise.all([first, second]);
  t.deepEqual(order, ['babel 1 start', 'babel 1 done', 'babel 2 start', 'babel 2 done']);
  t.is(node.current.babel.helloIntervalSec, 2);
});
