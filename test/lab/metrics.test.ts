// Metrics scraped where an operator's Prometheus would: inside a lab node's
// namespace (the daemon's loopback endpoint) and inside the registry's, after a
// ping crossed the tunnel. The exposition text is parsed strictly.
import test from 'ava';
import type { LabHandle } from '../../lab/handle.js';
import { runChecked } from '../../lab/exec.js';
import { waitFor } from '../../lab/wait.js';
import { parseExposition, value, type Exposition } from '../metrics/exposition.js';
import { labFor } from './fixture.js';

/** GET http://127.0.0.1:PORT/metrics inside a namespace, with this Node (no curl needed). */
async function scrape(lab: LabHandle, netns: string, port: number): Promise<Exposition> {
  const script = `fetch('http://127.0.0.1:${port}/metrics').then(async (r) => { if (r.status !== 200) throw new Error('status ' + r.status); process.stdout.write(await r.text()); }).catch((e) => { console.error(String(e)); process.exit(1); })`;
  return parseExposition(await runChecked(lab.runner, ['ip', 'netns', 'exec', netns, process.execPath, '-e', script], { timeoutMs: 30_000 }));
}

test('metrics: a node\'s tunnel and traffic, and the registry\'s nodes and enrolments', async (t) => {
  const lab = await labFor(t, 'mx', { nodes: 2, nat: 0 });
  const [n1, n2] = [lab.node('n1'), lab.node('n2')];
  t.true(await lab.ping('n1', 'n2', 5), 'n1 reaches n2 over the overlay');

  // The traffic counters are sampled every 5 s: wait for a sample after the ping.
  const node = await waitFor(async () => {
    const e = await scrape(lab, n1.netns, 9327);
    const up = e.samples.find((s) => s.name === 'resilnet_peer_tunnel_state' && s.labels.peer === n2.prefix && s.labels.state === 'up' && s.value === 1);
    if (!up) throw new Error(`no tunnel up with n2 (${n2.prefix}) yet`);
    if (!(value(e, 'resilnet_peer_receive_bytes_total', { peer: n2.prefix! }) > 0)) throw new Error('no bytes received from n2 yet');
    return e;
  }, { timeoutMs: 60_000, intervalMs: 1_000, what: 'n1\'s metrics to show its tunnel with n2 up and carrying bytes' });
  t.true(value(node, 'resilnet_peer_transmit_bytes_total', { peer: n2.prefix! }) > 0);
  t.is(value(node, 'resilnet_node_info', { prefix: n1.prefix! }), 1);
  t.true(value(node, 'resilnet_babel_routes') >= 1);
  t.is(value(node, 'resilnet_babel_neighbours'), 1);
  t.is(value(node, 'resilnet_babeld_up'), 1);
  t.is(value(node, 'resilnet_peers', { state: 'dead' }), 0);
  t.true(value(node, 'resilnet_registry_last_contact_age_seconds') < 120, 'the registry answered within two heartbeats');
  t.true(value(node, 'resilnet_certificate_expiry_timestamp_seconds') * 1000 > Date.now());

  const registry = await waitFor(async () => {
    const e = await scrape(lab, lab.manifest.layout.registry.netns, 9328);
    if (value(e, 'resilnet_registry_nodes', { state: 'online' }) !== 2) throw new Error(`${value(e, 'resilnet_registry_nodes', { state: 'online' })} nodes online`);
    return e;
  }, { timeoutMs: 60_000, intervalMs: 1_000, what: 'the registry\'s metrics to count both nodes online' });
  t.is(value(registry, 'resilnet_registry_enrolments_total', { kind: 'new' }), 2);
  t.true(value(registry, 'resilnet_registry_http_request_duration_seconds_count', { route: '/v1/heartbeat', method: 'POST', code: '200' }) >= 2);
});
