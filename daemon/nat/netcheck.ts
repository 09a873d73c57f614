// One NAT check: STUN probes from one socket, then the classifier. The probe
// order is a pure plan: every configured server first; when fewer than two
// distinct servers answered, the alternate address a server announced
// (RFC 3489 CHANGED-ADDRESS, which stund sends) is asked too, so a single
// two-address server is enough to tell endpoint-independent from
// address-and-port-dependent mapping.
import { classifyNat, type NatEvidenceInput, type NatVerdict, type StunObservation } from './classify.js';
import { formatStunServer, type StunProbeResult, type StunServer, type StunSocket } from './stun-client.js';

export interface NetcheckReport extends NatVerdict {
  checkedAt: string;
  stunServers: string[];
  localPort: number | null;
}

/** The extra server to ask after `results`, or undefined when two distinct servers already answered. */
export function nextAlternate(results: readonly StunProbeResult[], asked: readonly StunServer[]): StunServer | undefined {
  const answered = new Set(results.filter((r) => r.ok).map((r) => formatStunServer(r.server)));
  if (answered.size >= 2) return undefined;
  const seen = new Set(asked.map(formatStunServer));
  for (const r of results) {
    if (!r.ok || !r.changed) continue;
    const alt = { host: r.changed.address, port: r.changed.port };
    if (!seen.has(formatStunServer(alt))) return alt;
  }
  return undefined;
}

/** Probes the servers (and at most one announced alternate) from one socket. */
export async function gatherStun(servers: readonly StunServer[], open: () => Promise<StunSocket>): Promise<NonNullable<NatEvidenceInput['stun']>> {
  const socket = await open();
  try {
    const asked: StunServer[] = [...servers];
    const results: StunProbeResult[] = [];
    for (const s of servers) results.push(await socket.probe(s));
    const alt = nextAlternate(results, asked);
    if (alt) {
      asked.push(alt);
      results.push(await socket.probe(alt));
    }
    return { localPort: socket.localPort, observations: results.map(toObservation) };
  } finally {
    socket.close();
  }
}

function toObservation(r: StunProbeResult): StunObservation {
  const server = formatStunServer(r.server);
  return r.ok ? { server, mapped: { address: r.mapped.address, port: r.mapped.port } } : { server, error: r.error };
}

/** Runs the STUN part (when servers are configured) and classifies with the rest of the evidence. */
export async function runNetcheck(
  servers: readonly StunServer[],
  rest: Omit<NatEvidenceInput, 'stun'>,
  open: () => Promise<StunSocket>,
  nowMs: number = Date.now(),
): Promise<NetcheckReport> {
  const stun = servers.length > 0 ? await gatherStun(servers, open) : null;
  return {
    ...classifyNat({ ...rest, stun }),
    checkedAt: new Date(nowMs).toISOString(),
    stunServers: servers.map(formatStunServer),
    localPort: stun?.localPort ?? null,
  };
}

/** The report in words, for `resilnet netcheck` and the status page. */
export function renderNetcheck(r: NetcheckReport): string {
  const lines = [`NAT class: ${r.natClass}${r.externalAddress ? ` (external address ${r.externalAddress})` : ''}`, r.summary, '', 'evidence:'];
  for (const e of r.evidence) lines.push(`  - ${e}`);
  if (r.stunServers.length === 0) lines.push('', 'no STUN servers configured ([nat] stun in resilnet.toml): the class comes from the registry and UPnP only');
  return `${lines.join('\n')}\n`;
}
