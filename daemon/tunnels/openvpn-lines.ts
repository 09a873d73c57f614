// What the tunnel manager reads in an openvpn end's log (stdout, run with
// --suppress-timestamps): the tunnel came up, the far end's underlay address,
// and a restart with its cause. Pure.
import { formatHostPort } from '../sys/host-port.js';

export type OpenvpnLineEvent =
  /** "Initialization Sequence Completed": the tunnel carries traffic. */
  | { kind: 'up' }
  /** TLS with the peer succeeded; its underlay address as "IP:PORT". */
  | { kind: 'peer'; remote: string }
  /** openvpn restarts its session (the tunnel is down until it is up again). */
  | { kind: 'restart'; reason: string }
  /** A step of the TLS handshake with the peer: slow, perhaps, but not dead. */
  | { kind: 'progress' };

const UP_LINE = /Initialization Sequence Completed/;
// The host part is greedy: an IPv6 address ends at the last colon, before the port.
const PEER_LINE = /Peer Connection Initiated with \[AF_INET6?\]([0-9a-fA-F.:]+):(\d+)\b/;
const PROGRESS_LINE = /^(?:\[[^\]]*\] )?(?:TLS: Initial packet from|VERIFY OK|VERIFY X509NAME OK|Control Channel: )/;
const RESTART_LINE = /(SIGUSR1\[[^\]]*\] received, process restarting|Inactivity timeout \(--ping-restart\))/;

/** The event one log line reports, or undefined for every other line. */
export function parseOpenvpnLine(line: string): OpenvpnLineEvent | undefined {
  const peer = PEER_LINE.exec(line);
  if (peer) return { kind: 'peer', remote: formatHostPort(peer[1]!, Number(peer[2])) };
  if (UP_LINE.test(line)) return { kind: 'up' };
  const restart = RESTART_LINE.exec(line)?.[1];
  if (restart === undefined) return PROGRESS_LINE.test(line) ? { kind: 'progress' } : undefined;
  const reason = restart.includes('remote-exit')
    ? 'the peer closed its end'
    : restart.includes('ping-restart') || restart.includes('Inactivity')
      ? 'no keepalive from the peer'
      : 'openvpn restarting';
  return { kind: 'restart', reason };
}
