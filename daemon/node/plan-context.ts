// What the tunnel planner reads at each round besides the tunnels: the peers,
// what babel reaches, the live tunnels slice, and our traffic per destination.
import { destinationTrafficMap } from '../tunnels/dest-rates.js';
import type { PlanContext } from '../tunnels/manager.js';
import { destinationVia } from './control-views.js';
import type { RunningParts } from './parts.js';

export function planContext(p: RunningParts): PlanContext {
  const t = p.settings!.current.tunnels;
  const dest = p.destTraffic;
  return {
    peers: p.peerDb!.listPeers(),
    reachable: p.babel!.reachablePrefixes(),
    neighbours: [...t.neighbours],
    clientCount: t.clientCount,
    policy: t.policy,
    ...(dest ? { destinationTraffic: destinationTrafficMap(dest.rates()), destinationVia: destinationVia(p) } : {}),
  };
}
