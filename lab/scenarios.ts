// The scripted cases of `resilnet lab scenario NAME` and of the end-to-end
// tests: each runs on a lab that is up and converged, breaks something through
// real processes and the real CLI, waits on conditions with deadlines, and
// returns what it saw. Tests assert on the result; the CLI prints it.
import { LabError } from './errors.js';
import { LabHandle } from './handle.js';
import { largestGapMs, startContinuousPing } from './ping.js';
import { isRunning, readProcStat, signalProcess } from './procs.js';
import { waitFor } from './wait.js';

export interface ScenarioResult {
  name: string;
  ok: boolean;
  summary: string;
  [key: string]: unknown;
}

type Log = (line: string) => void;

// ---- failover ---------------------------------------------------------

export interface FailoverResult extends ScenarioResult {
  from: string;
  to: string;
  cutInterface: string;
  cut: 'freeze' | 'exit';
  outageMs: number | null;
  lostPackets: number | null;
  routeAfter: string | null;
}

/** A pair (a, b) whose traffic a→b goes over the direct tunnel a–b, with both openvpn pids. */
export async function findCarriedPair(lab: LabHandle): Promise<{ from: string; to: string; iface: string; pids: number[] }> {
  return waitFor(
    async () => {
      for (const a of lab.nodes) {
        for (const t of await lab.tunnels(a.name)) {
          if (t.state !== 'up' || t.pid === null) continue;
          const b = lab.nameOf(t.peer);
          if (b === t.peer) continue;
          if ((await lab.routeDev(a.name, b)) !== t.interface) continue;
          const back = (await lab.tunnels(b)).find((x) => x.peer === a.prefix && x.state === 'up' && x.pid !== null);
          return { from: a.name, to: b, iface: t.interface, pids: [t.pid, ...(back?.pid ? [back.pid] : [])] };
        }
      }
      throw new Error('no node routes to a neighbour over its direct tunnel yet');
    },
    { timeoutMs: 60_000, intervalMs: 1_000, what: 'a pair of nodes joined by the tunnel that carries their traffic' },
  );
}

/**
 * Cuts the tunnel that carries a continuous 20 Hz ping: 'freeze' stops both
 * openvpn ends with SIGSTOP (a silent black hole), 'exit' kills one end.
 */
export async function failoverScenario(lab: LabHandle, log: Log, cut: 'freeze' | 'exit' = 'freeze'): Promise<FailoverResult> {
  const pair = await findCarriedPair(lab);
  const target = lab.node(pair.to).overlay as string;
  log(`failover: ${pair.from} -> ${pair.to} goes over ${pair.iface} (openvpn pids ${pair.pids.join(', ')}); 20 Hz ping started`);
  const ping = startContinuousPing(lab.node(pair.from).netns, target, 0.05);
  const stopped: Array<{ pid: number; startTime: string }> = [];
  try {
    await waitFor(() => (ping.log().replies.length >= 10 ? true : undefined), { timeoutMs: 15_000, what: 'ping replies before the cut' });
    const cutAtMs = Date.now();
    for (const pid of cut === 'freeze' ? pair.pids : pair.pids.slice(0, 1)) {
      const st = readProcStat(pid);
      if (!st) continue;
      const rec = { pid, startTime: st.startTime };
      signalProcess(rec, cut === 'freeze' ? 'SIGSTOP' : 'SIGKILL');
      if (cut === 'freeze') stopped.push(rec);
    }
    log(`failover: ${cut === 'freeze' ? 'froze (SIGSTOP) both openvpn ends' : 'killed one openvpn end'} of ${pair.iface}`);
    // Traffic is back once replies flow again after the cut: 20 in a row.
    await waitFor(
      () => {
        const after = ping.log().replies.filter((r) => r.atMs > cutAtMs + 100);
        const gap = largestGapMs(ping.log().replies, cutAtMs);
        return after.length >= 20 && gap.toMs > 0 && after.filter((r) => r.atMs > gap.toMs).length >= 19 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: `ping ${pair.from} -> ${pair.to} to resume after the cut` },
    );
    const final = await ping.stop();
    const gap = largestGapMs(final.replies, cutAtMs);
    const lost = final.transmitted !== null && final.received !== null ? final.transmitted - final.received : null;
    const routeAfter = await lab.routeDev(pair.from, pair.to);
    const summary = `failover (${cut}) ${pair.from} -> ${pair.to}: outage ${(gap.gapMs / 1000).toFixed(2)} s, ${lost ?? '?'} packets lost, traffic now via ${routeAfter ?? '?'} (cut: ${pair.iface})`;
    log(summary);
    return { name: 'failover', ok: true, summary, from: pair.from, to: pair.to, cutInterface: pair.iface, cut, outageMs: gap.gapMs, lostPackets: lost, routeAfter };
  } finally {
    await ping.stop().catch(() => undefined);
    for (const rec of stopped) if (isRunning(rec)) signalProcess(rec, 'SIGCONT');
  }
}

// ---- registry outage --------------------------------------------------

export async function registryOutageScenario(lab: LabHandle, log: Log, node = 'n2'): Promise<ScenarioResult> {
  await lab.stopRegistry();
  log('registry-outage: registry stopped');
  await lab.awaitAllPairs({ timeoutMs: 30_000 });
  log('registry-outage: all pairs still reach each other');
  await lab.stopDaemon(node);
  log(`registry-outage: daemon of ${node} stopped; starting it again with the registry still down`);
  const t0 = Date.now();
  lab.startDaemon(node);
  await lab.awaitAllPairs({ timeoutMs: 90_000 });
  const rejoinMs = Date.now() - t0;
  const summary = `registry-outage: with the registry down all pairs kept reaching; ${node} restarted and rejoined from its peer DB in ${(rejoinMs / 1000).toFixed(1)} s`;
  log(summary);
  return { name: 'registry-outage', ok: true, summary, node, rejoinMs };
}

// ---- revocation -------------------------------------------------------

interface StatusJson {
  networkConfig: { version: number };
}

export async function revocationScenario(lab: LabHandle, log: Log, victim = 'n2', offline = 'n3'): Promise<ScenarioResult> {
  const victimPrefix = lab.node(victim).prefix as string;
  const others = lab.nodes.map((n) => n.name).filter((n) => n !== victim);
  const online = others.filter((n) => n !== offline);
  await lab.stopDaemon(offline);
  log(`revocation: ${offline} is offline; revoking ${victim} (${victimPrefix})`);
  await lab.registry('revoke', victimPrefix);
  const version = (JSON.parse(await lab.registry('config', 'show', '--json')) as { version: number }).version;
  const t0 = Date.now();
  await waitFor(
    async () => {
      const holding: string[] = [];
      for (const n of online) if ((await lab.tunnels(n)).some((t) => t.peer === victimPrefix)) holding.push(n);
      if (holding.length > 0) throw new Error(`${holding.join(', ')} still keep a tunnel with ${victim}`);
      const reached: string[] = [];
      for (const n of online) if (await lab.ping(victim, n)) reached.push(n);
      if (reached.length > 0) throw new Error(`${victim} still reaches ${reached.join(', ')}`);
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 1_000, what: `the network to drop ${victim}` },
  );
  const dropMs = Date.now() - t0;
  log(`revocation: no node keeps a tunnel with ${victim} and it reaches no one, ${(dropMs / 1000).toFixed(1)} s after the revocation (config version ${version})`);
  await lab.stopRegistry();
  lab.startDaemon(offline);
  log(`revocation: registry stopped; ${offline} back online`);
  await waitFor(
    async () => {
      const st = await lab.cliJson<StatusJson>(offline, 'status');
      if (st.networkConfig.version < version) throw new Error(`${offline} has network config v${st.networkConfig.version}, want >= v${version}`);
      if ((await lab.tunnels(offline)).some((t) => t.peer === victimPrefix)) throw new Error(`${offline} has a tunnel with ${victim}`);
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 1_000, what: `${offline} to learn the revocation from its peers` },
  );
  await lab.awaitAllPairs({ timeoutMs: 90_000, nodes: others });
  const summary = `revocation: ${victim} dropped by every node in ${(dropMs / 1000).toFixed(1)} s; ${offline}, offline at the time, learned config v${version} from its peers with the registry down and rejoined the others`;
  log(summary);
  return { name: 'revocation', ok: true, summary, victim, offline, dropMs, version };
}

// ---- crash ------------------------------------------------------------

export async function crashScenario(lab: LabHandle, log: Log, node = 'n2'): Promise<ScenarioResult> {
  const before = await lab.children(node);
  await lab.killDaemon(node);
  const stale = before.filter((c) => isRunning(c));
  log(`crash: kill -9 of ${node}'s daemon left ${stale.length} children running (${stale.map((c) => `${c.comm}:${c.pid}`).join(' ')})`);
  lab.startDaemon(node);
  await waitFor(
    () => {
      const left = stale.filter((c) => isRunning(c));
      if (left.length > 0) throw new Error(`stale children still running: ${left.map((c) => `${c.comm}:${c.pid}`).join(' ')}`);
      return true;
    },
    { timeoutMs: 30_000, what: `the restarted daemon of ${node} to clean up the stale children` },
  );
  await lab.awaitAllPairs({ timeoutMs: 90_000 });
  const summary = `crash: ${stale.length} stale children of ${node}'s killed daemon were cleaned up by the new one, and ${node} rejoined`;
  log(summary);
  return { name: 'crash', ok: true, summary, node, staleChildren: stale.length };
}

// ---- traffic-aware selection -----------------------------------------

/**
 * Steady traffic a→b between two non-adjacent nodes, with a short tunnel
 * refresh: over several refresh periods the tunnel that carries it must stay
 * (or a direct a–b tunnel appear) while the managers replace other tunnels.
 */
export async function trafficScenario(lab: LabHandle, log: Log, windowSec = 30, maxWaitSec = 300): Promise<ScenarioResult> {
  const pair = await waitFor(
    async () => {
      for (const a of lab.nodes) {
        const peers = new Set((await lab.tunnels(a.name)).map((t) => t.peer));
        for (const b of lab.nodes) {
          if (b.name === a.name || peers.has(b.prefix as string)) continue;
          if ((await lab.tunnels(b.name)).some((t) => t.peer === a.prefix)) continue;
          return { a: a.name, b: b.name };
        }
      }
      throw new Error('every pair of nodes is adjacent');
    },
    { timeoutMs: 30_000, what: 'two non-adjacent nodes' },
  );
  const aPrefix = lab.node(pair.a).prefix as string;
  const bPrefix = lab.node(pair.b).prefix as string;
  log(`traffic: ${pair.a} and ${pair.b} are not adjacent; steady traffic ${pair.a} -> ${pair.b} (ping, 100/s, 1000 B)`);
  const ping = startContinuousPing(lab.node(pair.a).netns, lab.node(pair.b).overlay as string, 0.01, 1000);
  const direct = async () =>
    (await lab.tunnels(pair.a)).some((t) => t.peer === bPrefix && t.state === 'up') ||
    (await lab.tunnels(pair.b)).some((t) => t.peer === aPrefix && t.state === 'up');
  const closedCount = async () => {
    let n = 0;
    for (const node of lab.nodes) n += (await lab.events(node.name)).filter((e) => e.kind === 'link-closed').length;
    return n;
  };
  try {
    // The tunnel at a that carries the traffic, once the managers see the traffic on it.
    const carrier = await waitFor(
      async () => {
        const dev = await lab.routeDev(pair.a, pair.b);
        const t = (await lab.tunnels(pair.a)).find((x) => x.interface === dev && x.state === 'up');
        if (!t) throw new Error(`no tunnel at ${pair.a} for route dev ${dev}`);
        if (t.txBytesPerSec < 20_000) throw new Error(`${t.interface} carries ${t.txBytesPerSec} B/s so far`);
        return t;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, what: `the traffic ${pair.a} -> ${pair.b} to show on a tunnel` },
    );
    const via = lab.nameOf(carrier.peer);
    log(`traffic: carried by ${pair.a}-${via} (${carrier.interface}, ${carrier.direction}, ${Math.round(carrier.txBytesPerSec / 1000)} kB/s, protected ${carrier.protected})`);
    const closedBefore = await closedCount();
    const t0 = Date.now();
    let kept = true;
    let protectedSeen = carrier.protected;
    let replacedSoFar = 0;
    let lastCountMs = 0;
    // New tunnels are protected for a while, so replacements start only after
    // that: watch until at least two happened elsewhere (and windowSec passed).
    await waitFor(
      async () => {
        if (await direct()) return true;
        const now = (await lab.tunnels(pair.a)).find((x) => x.peer === carrier.peer);
        if (!now || now.openedAtMs !== carrier.openedAtMs) {
          kept = false;
          return true;
        }
        protectedSeen ||= now.protected;
        if (Date.now() - lastCountMs >= 5_000) {
          replacedSoFar = (await closedCount()) - closedBefore;
          lastCountMs = Date.now();
        }
        return replacedSoFar >= 2 && Date.now() - t0 >= windowSec * 1000 ? true : undefined;
      },
      { timeoutMs: maxWaitSec * 1000, intervalMs: 1_000, what: `other tunnels to be replaced while ${pair.a} -> ${pair.b} traffic flows` },
    );
    const directNow = await direct();
    const replaced = (await closedCount()) - closedBefore;
    const events = [
      ...(await lab.events(pair.a)).filter((e) => e.peer === carrier.peer || e.peer === bPrefix),
      ...(await lab.events(pair.b)).filter((e) => e.peer === aPrefix),
    ].map((e) => `${String(e.kind)}: ${String(e.text)}`);
    // Opening the direct tunnel is the traffic-aware choice; otherwise keeping the
    // carrier only means something if the managers replaced other tunnels meanwhile.
    const directEvents = events.filter((e) => e.startsWith('link-established') && (e.includes(aPrefix) || e.includes(bPrefix)));
    const ok = directNow ? directEvents.length > 0 : kept && replaced > 0;
    const summary = directNow
      ? `traffic: the tunnel manager opened a direct tunnel ${pair.a}-${pair.b} for the traffic (${directEvents.at(-1) ?? 'no event'})`
      : `traffic: ${pair.a}-${via}, which carries ${pair.a} -> ${pair.b}, was ${kept ? 'kept' : 'NOT kept'} for ${windowSec} s (protected: ${protectedSeen}) while ${replaced} other tunnels were replaced`;
    log(summary);
    return { name: 'traffic', ok, summary, ...pair, via, kept, direct: directNow, protected: protectedSeen, replaced, events, directEvents };
  } finally {
    await ping.stop();
  }
}

// ---- the CLI entry ----------------------------------------------------

export const SCENARIOS: Record<string, { description: string; run: (lab: LabHandle, log: Log) => Promise<ScenarioResult>; up?: { registrySettings?: string[] } }> = {
  converge: {
    description: 'time until all pairs reach each other',
    run: async (lab) => {
      const ms = await lab.awaitAllPairs({ timeoutMs: 60_000 });
      return { name: 'converge', ok: true, summary: `converge: all pairs reach each other (checked in ${(ms / 1000).toFixed(1)} s)` };
    },
  },
  failover: { description: 'freeze the tunnel under a continuous ping, report the outage', run: (lab, log) => failoverScenario(lab, log, 'freeze') },
  'failover-exit': { description: 'kill one end of the tunnel under a continuous ping', run: (lab, log) => failoverScenario(lab, log, 'exit') },
  'registry-outage': { description: 'stop the registry, restart a daemon: it rejoins from its peer DB', run: (lab, log) => registryOutageScenario(lab, log) },
  revocation: { description: 'revoke a node; an offline node learns it from peers', run: (lab, log) => revocationScenario(lab, log) },
  crash: { description: 'kill -9 a daemon, start it again: stale children cleaned, node rejoins', run: (lab, log) => crashScenario(lab, log) },
  traffic: {
    description: 'steady traffic between non-adjacent nodes: the tunnel carrying it is kept while others are replaced',
    run: (lab, log) => trafficScenario(lab, log),
    up: { registrySettings: ['client_count=2', 'tunnel_refresh=5'] },
  },
};

export async function runScenario(name: string, options: { id?: string; log: Log }): Promise<ScenarioResult> {
  const s = SCENARIOS[name];
  if (!s) throw new LabError('RN_LAB_BAD_SCENARIO', `unknown scenario ${JSON.stringify(name)} (known: ${Object.keys(SCENARIOS).join(', ')}).`);
  if (options.id) return s.run(LabHandle.attach(options.id, options.log), options.log);
  const lab = await LabHandle.up({ ...(s.up ?? {}), log: options.log });
  try {
    return await s.run(lab, options.log);
  } finally {
    await lab.down();
  }
}
