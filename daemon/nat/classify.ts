// The node's NAT class from what it can observe (pure):
//   public  the outside sees one of our own addresses (STUN, or the registry's
//           view of our heartbeats), so peers can dial us directly;
//   upnp    behind a NAT whose gateway maps our ports for us (UPnP IGD);
//   eim     behind a NAT with endpoint-independent mapping: one local socket
//           has one external endpoint whoever it talks to (hole-punchable);
//   apdm    behind a NAT with address-and-port-dependent mapping: each
//           destination sees a different external port (no hole punching);
//   unknown not enough evidence to tell.
// Each decision comes with the evidence it rests on, in words.

export const NAT_CLASSES = ['public', 'upnp', 'eim', 'apdm', 'unknown'] as const;
export type NatClass = (typeof NAT_CLASSES)[number];

export interface StunObservation {
  /** The server asked, as "host:port". */
  server: string;
  /** The endpoint it saw, or undefined when it did not answer. */
  mapped?: { address: string; port: number };
  error?: string;
}

export interface NatEvidenceInput {
  /** Our own underlay interface addresses (no port). */
  localAddresses: readonly string[];
  /** The source address the registry saw our last heartbeat come from. */
  seenAddress: string | null;
  /** The UPnP gateway's external address and the ports mapped there, when mappings are live. */
  upnp: { externalIp: string; ports: readonly number[] } | null;
  /** What the UPnP reach check found (a peer's probe arrived through the mapping, or not yet, or never), in words. */
  upnpReach?: string | null;
  /** STUN answers to probes sent from one local socket, in the order asked. */
  stun: { localPort: number; observations: readonly StunObservation[] } | null;
}

export interface NatVerdict {
  natClass: NatClass;
  /** The external address others see, when known. */
  externalAddress: string | null;
  /** One sentence per fact used, in the order they were weighed. */
  evidence: string[];
  /** The decision in one sentence. */
  summary: string;
}

export function classifyNat(input: NatEvidenceInput): NatVerdict {
  const evidence: string[] = [];
  const local = new Set(input.localAddresses);
  const answered = (input.stun?.observations ?? []).filter((o): o is StunObservation & { mapped: { address: string; port: number } } => o.mapped !== undefined);
  for (const o of input.stun?.observations ?? []) {
    evidence.push(
      o.mapped
        ? `STUN server ${o.server} saw local port ${input.stun!.localPort} as ${o.mapped.address}:${o.mapped.port}`
        : `STUN server ${o.server} did not answer (${o.error ?? 'no reply'})`,
    );
  }
  if (input.seenAddress !== null) {
    evidence.push(`the registry saw our heartbeats come from ${input.seenAddress}${local.has(input.seenAddress) ? ' (one of our own addresses)' : ''}`);
  }
  if (input.upnp) evidence.push(`the UPnP gateway maps ${input.upnp.ports.length} port(s) on ${input.upnp.externalIp}`);
  if (input.upnpReach) evidence.push(input.upnpReach);
  evidence.push(local.size > 0 ? `our own addresses: ${[...local].join(', ')}` : 'no underlay address on our interfaces');

  const stunPublic = answered.find((o) => local.has(o.mapped.address) && o.mapped.port === input.stun!.localPort);
  if (stunPublic) return verdict('public', stunPublic.mapped.address, evidence, `not behind a NAT: STUN sees our own address ${stunPublic.mapped.address} and port unchanged`);
  const stunExternal = answered[0]?.mapped.address ?? null;
  if (answered.length === 0 && input.seenAddress !== null && local.has(input.seenAddress)) {
    return verdict('public', input.seenAddress, evidence, `not behind a NAT: the registry sees our own address ${input.seenAddress}`);
  }
  if (input.upnp && input.upnp.ports.length > 0) {
    return verdict('upnp', input.upnp.externalIp, evidence, `behind a NAT that maps our ports over UPnP on ${input.upnp.externalIp}: peers can dial us there`);
  }
  const external = stunExternal ?? (input.seenAddress !== null && !local.has(input.seenAddress) ? input.seenAddress : null);
  if (answered.length >= 2) {
    const endpoints = new Set(answered.map((o) => `${o.mapped.address}:${o.mapped.port}`));
    const servers = new Set(answered.map((o) => o.server));
    if (servers.size >= 2) {
      if (endpoints.size === 1) {
        return verdict('eim', external, evidence, `behind a NAT with endpoint-independent mapping: ${servers.size} STUN servers saw one external endpoint ${[...endpoints][0]} (hole punching can work)`);
      }
      return verdict('apdm', external, evidence, `behind a NAT with address-and-port-dependent mapping: ${servers.size} STUN servers saw ${endpoints.size} different external endpoints (${[...endpoints].join(', ')}); hole punching cannot work`);
    }
  }
  if (external !== null) {
    return verdict('unknown', external, evidence, `behind a NAT (seen as ${external}) of unknown kind: ${answered.length === 1 ? 'only one STUN server answered' : 'no STUN server answered'}; configure two STUN servers ([nat] stun) or one with a second address`);
  }
  return verdict('unknown', null, evidence, 'no outside view of this node yet (no STUN answer, no registry heartbeat reply)');
}

function verdict(natClass: NatClass, externalAddress: string | null, evidence: string[], summary: string): NatVerdict {
  return { natClass, externalAddress, evidence, summary };
}
