// The `lan` line of `resilnet status`: interfaces in use, neighbours heard, and
// how many announcements were ignored and why (only the reasons that occurred).
import type { LanStatus } from '../../daemon/lan/discovery.js';

export function renderLanStatus(lan: LanStatus): string {
  const ifaces = lan.interfaces.map((i) => (i.error ? `${i.name} (${i.error})` : `${i.name} ${i.endpoints.join(' ')}`)).join(', ');
  const neighbours = lan.neighbours.map((n) => `${n.prefix} on ${n.interface}`).join(', ') || 'none';
  const ignored = Object.entries(lan.ignored).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`);
  return `lan          udp ${lan.port} every ${lan.intervalSec} s on ${ifaces}; ${lan.sent} sent, ${lan.received} heard, ${lan.accepted} accepted` +
    `${ignored.length ? `, ignored: ${ignored.join(', ')}` : ''}; neighbours: ${neighbours}`;
}
