// Link beats for the link monitor (tunnels/hello-kind.ts): the sockets that send
// them and the interface counters that show the peer's.
import type { Logger } from 'pino';
import { readNetDevSync } from '../sys/netdev.js';
import { LinkBeats } from '../tunnels/link-beats.js';
import type { LinkMonitorDeps } from '../tunnels/link-monitor.js';

export function linkBeats(log: Pick<Logger, 'debug'>): Required<Pick<LinkMonitorDeps, 'beats' | 'counters'>> {
  return {
    // A failed send closes the socket and the next beat opens a new one; the link's hellos say the rest.
    beats: new LinkBeats((ifName, err) => log.debug({ err, iface: ifName }, 'link beat not sent')),
    counters: () => readNetDevSync(),
  };
}
