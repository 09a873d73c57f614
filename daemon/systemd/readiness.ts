// When the node counts as up for systemd (READY=1), and the STATUS= line that
// says where it is, both read from the control API's status: the control socket
// answers (the status exists at all), babeld has taken its configuration, and
// the registry or a peer has answered. Pure.
import type { StatusResponse } from '../control/protocol.js';

export interface Readiness {
  ready: boolean;
  /** One line for systemctl status. */
  status: string;
}

/**
 * A node that no registry and no peer answers is still up (it keeps trying, and its
 * control socket serves): after this long without contact it is reported ready
 * anyway, with a STATUS that says so, instead of failing the start.
 */
export const CONTACT_WAIT_MS = 60_000;

/** Verified peer-protocol messages: received minus dropped. */
function peerMessages(s: StatusResponse): number {
  return s.peerProtocol.received - s.peerProtocol.dropped;
}

export function readiness(s: StatusResponse, waitedMs: number): Readiness {
  const babel = s.babeld;
  if (!babel.running || !babel.answering || babel.helloIntervalSec === null) {
    return { ready: false, status: 'waiting for babeld to take its configuration' };
  }
  const registry = s.registry.lastContactMs !== null;
  const peer = peerMessages(s) > 0;
  if (!registry && !peer) {
    if (waitedMs < CONTACT_WAIT_MS) return { ready: false, status: `waiting for the registry or a peer to answer (${Math.round(waitedMs / 1000)} s)` };
    return { ready: true, status: `running, but neither the registry nor any peer has answered yet (${s.registry.lastError ?? 'no registry error'}); see resilnet status` };
  }
  return { ready: true, status: runningStatus(s) };
}

/** The STATUS line of a running node: tunnels, peers, contact. */
export function runningStatus(s: StatusResponse): string {
  const alive = s.links.filter((l) => l.state === 'alive').length;
  const tunnels = s.tunnels.outgoing + s.tunnels.incoming;
  const registry = s.registry.lastError === null ? 'registry ok' : 'registry unreachable';
  const problems = s.health.length ? `; ${s.health.length} problem${s.health.length === 1 ? '' : 's'} (resilnet status)` : '';
  return `running: ${tunnels} tunnel${tunnels === 1 ? '' : 's'} (${alive} link${alive === 1 ? '' : 's'} alive), ${s.peers.live} live and ${s.peers.dead} dead peers, ${registry}${problems}`;
}
