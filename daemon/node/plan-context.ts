// What the tunnel planner reads at each round besides the tunnels: the peers,
// what babel reaches, the live tunnels slice, our traffic per destination, and
// how late this host's timers ran lately.
import { destinationTrafficMap } from '../tunnels/dest-rates.js';
import type { LatenessSource } from '../sys/lateness.js';
import type { PlanContext } from '../tunnels/manager.js';
import { destinationVia } from './control-views.js';
import type { RunningParts } from './parts.js';

export function planContext(p: RunningParts, lateness: LatenessSource): PlanContext {
  const t = p.settings!.current.tunnels;
  const dest = p.destTraffic;
  return {
    peers: p.peerDb!.listPeers(),
    reachable: p.babel!.reachablePrefixes(),
    neighbours: [...t.neighbours],
    clientCount: t.clientCount,
    policy: t.policy,
    lateMs: lateness.recentMaxMs(),
    ...(dest ? { destinationTraffic: destinationTrafficMap(dest.rates()), destinationVia: destinationVia(p) } : {}),
  };
}
