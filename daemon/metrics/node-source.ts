// One metrics snapshot read from the running parts (the same sources as the
// control API's status and tunnels views); parts not built yet read as empty.
import type { RunningParts } from '../node/parts.js';
import type { LatenessSource } from '../sys/lateness.js';
import type { NodeMetricsSnapshot } from './node-snapshot.js';

export interface SnapshotContext {
  nowMs: number;
  startedAtMs: number;
  lateness: LatenessSource;
}

export function nodeSnapshot(p: RunningParts, c: SnapshotContext): NodeMetricsSnapshot {
  const peers = p.peerDb?.listPeers() ?? [];
  const rttMs = new Map<string, number>();
  for (const x of peers) if (x.rttMs !== null) rttMs.set(x.prefix, x.rttMs);
  const babel = p.babel?.status();
  const rates = p.destTraffic?.rates() ?? new Map();
  return {
    prefix: p.identity?.cert.prefix ?? null,
    nowMs: c.nowMs,
    startedAtMs: c.startedAtMs,
    tunnels: (p.manager?.list() ?? []).map((t) => ({
      peer: t.peer,
      direction: t.direction,
      state: t.state,
      rxBytes: t.rx?.last.rxBytes ?? null,
      txBytes: t.tx?.last.txBytes ?? null,
      routes: p.babel?.routeCount(t.ifName) ?? 0,
    })),
    links: (p.links?.views() ?? []).map((l) => ({ peer: l.peer, state: l.phase, flaps: l.flaps })),
    destinations: [...rates].map(([prefix, r]) => ({ prefix, rxBytesPerSec: r.rxBytesPerSec, txBytesPerSec: r.txBytesPerSec })),
    rttMs,
    peers: { live: peers.filter((x) => !x.dead).length, dead: peers.filter((x) => x.dead).length },
    babel: babel ? { running: babel.running, answering: babel.answering, routes: babel.routes, neighbours: babel.neighbours } : null,
    registryLastContactMs: p.registrySync?.status().lastContactMs ?? null,
    certificateNotAfterMs: p.identity?.cert.notAfterMs ?? null,
    eventLoopDelayMs: c.lateness.recentMaxMs(),
  };
}
