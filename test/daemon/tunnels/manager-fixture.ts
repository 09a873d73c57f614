// One TunnelManager on a fake clock with recording fakes for every dep, for the
// manager*.test.ts files. Peers are named fd00:1:0:N::/64, their tunnel
// interfaces rnN; `calls` lists babel, supervisor-stop and detour calls in order.
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import type { SupervisorEvent } from '../../../daemon/supervisor/supervisor.js';
import { DEFAULT_TUNNEL_POLICY } from '../../../daemon/tunnels/plan.js';
import { TunnelManager, type PlanContext, type TunnelEnd, type TunnelManagerDeps, type TunnelManagerOptions } from '../../../daemon/tunnels/manager.js';
import type { MessageOf, PeerMessage, WireNatClass } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

export const SELF = 'fd00:1:0:1::/64';
export const peerPrefix = (n: number): string => `fd00:1:0:${n}::/64`;
export const ifNameFor = (p: string): string => `rn${p.split(':')[3]}`;

export interface ManagerFixtureOptions {
  options?: Partial<TunnelManagerOptions>;
  /** Peers in the peer DB at start, as [prefix, address] (default: fd00:1:0:2::/64 at 10.0.0.2:1194). */
  peers?: Array<[string, string]>;
  retryBaseMs?: number;
  /** Babel also answers routeVia (from `via`, default rn9: routed around) and restoreCost. */
  routeVia?: boolean;
  /** A detours dep that records its calls (uncovered destinations set by `setUncovered`). */
  detours?: boolean;
  /** Overrides of the plan context, read at each round. */
  planContext?: () => Partial<PlanContext>;
  orderAddresses?: (addresses: readonly string[]) => string[];
  rand?: () => number;
  /** Each tunnel-request waits for this before it is answered (requests in flight). */
  requestGate?: () => Promise<void>;
  /** Deps given as they are, over the fixture's fakes. */
  deps?: Partial<TunnelManagerDeps>;
}

type Answer = (to: PeerAddress) => PeerMessage | Error;

export function managerFixture(o: ManagerFixtureOptions = {}) {
  const clock = new FakeClock(1_000_000);
  const events = new EventLog({ clock });
  const peers = new PeerDb(':memory:', o.retryBaseMs === undefined ? {} : { retryBaseMs: o.retryBaseMs });
  const calls: string[] = [];
  const babelCalls: string[] = [];
  const babelCall = (text: string): void => {
    calls.push(text);
    babelCalls.push(text);
  };
  const started: Array<{ name: string; argv: string[]; onLine?: (line: string, pid: number) => void }> = [];
  const stopped: string[] = [];
  const ends: TunnelEnd[] = [];
  const supervisorListeners: Array<(ev: SupervisorEvent) => void> = [];
  const requests: Array<{ to: PeerAddress; msg: PeerMessage }> = [];
  const sent: Array<{ to: PeerAddress; msg: PeerMessage }> = [];
  const routes = new Map<string, number>();
  const via = new Map<string, string | null>();
  const peerDown: string[] = [];
  const routeRequests: string[] = [];
  let uncovered: string[] = [];
  let requestHandler: ((ev: Incoming<MessageOf<'tunnel-request'>>) => unknown) | undefined;
  let drainListener: ((ev: Incoming<MessageOf<'drain'>>) => unknown) | undefined;
  const peerproto = {
    requests,
    sent,
    /** The answer to each tunnel-request (an Error is thrown). */
    answer: ((): PeerMessage => ({ kind: 'tunnel-accept', port: 1195 })) as Answer,
  };
  const manager = new TunnelManager(
    {
      ownPrefix: SELF,
      underlayPort: 1194,
      maxClients: 2,
      connectTimeoutMs: 30_000,
      lostTimeoutMs: 60_000,
      requestTimeoutMs: 2_000,
      requestAttempts: 1,
      drainTimeoutMs: 10_000,
      ...o.options,
    },
    {
      clock,
      log: pino({ level: 'silent' }),
      events,
      supervisor: {
        start: (spec, options) => void started.push({ ...spec, ...(options.onLine ? { onLine: options.onLine } : {}) }),
        stop: async (name) => {
          stopped.push(name);
          calls.push(`stop ${name}`);
        },
        pid: (name) => (started.some((s) => s.name === name) && !stopped.includes(name) ? 4242 : undefined),
        on: (l) => {
          supervisorListeners.push(l);
          return () => undefined;
        },
      },
      peerproto: {
        async request(to: PeerAddress, msg: PeerMessage): Promise<Incoming> {
          requests.push({ to, msg });
          await o.requestGate?.();
          const a = peerproto.answer(to);
          if (a instanceof Error) throw a;
          return { from: { prefix: to.prefix!, serial: '2b', host: to.host, port: to.port }, msg: a };
        },
        send: async (to, msg) => void sent.push({ to, msg }),
        setHandler: (_kind, h) => void (requestHandler = h),
        on: (_event, l) => {
          drainListener = l;
          return () => undefined;
        },
      },
      peers,
      babel: {
        addInterface: async (i) => babelCall(`add ${i}`),
        removeInterface: async (i) => babelCall(`flush ${i}`),
        raiseCost: async (i) => babelCall(`cost ${i}`),
        routeCount: (i) => routes.get(i) ?? 0,
        ...(o.routeVia ? { routeVia: (p: string) => (via.has(p) ? via.get(p)! : 'rn9'), restoreCost: async (i: string) => babelCall(`restore ${i}`) } : {}),
      },
      ...(o.detours
        ? {
            detours: {
              cover: async (i: string, reason: string) => void calls.push(`detour ${i} (${reason})`),
              release: (i: string) => void calls.push(`release ${i}`),
              uncovered: () => uncovered,
            },
          }
        : {}),
      onPeerDown: (peer, reason) => void peerDown.push(`${peer}: ${reason}`),
      requestRoutes: (ifName, peer) => void routeRequests.push(`${ifName} ${peer}`),
      openvpnArgv: (end) => {
        ends.push(end);
        return ['openvpn', '--dev', end.ifName];
      },
      ifNameFor,
      isUdpPortFree: async () => true,
      planContext: () => ({ peers: peers.listPeers(), reachable: [], neighbours: [], clientCount: 1, policy: DEFAULT_TUNNEL_POLICY, ...o.planContext?.() }),
      ...(o.orderAddresses ? { orderAddresses: o.orderAddresses } : {}),
      rand: o.rand ?? (() => 0),
      ...o.deps,
    },
  );
  manager.start();
  for (const [prefix, address] of o.peers ?? [[peerPrefix(2), '10.0.0.2:1194']]) {
    peers.upsertPeer({ prefix, addresses: [address], source: 'registry' }, clock.nowMs());
  }
  /** An openvpn log line from the newest child of that name. */
  const line = (name: string, text: string): void => started.filter((s) => s.name === name).at(-1)?.onLine?.(text, 4242);
  return {
    clock,
    events,
    peers,
    manager,
    calls,
    babelCalls,
    started,
    stopped,
    ends,
    peerproto,
    requests,
    sent,
    routes,
    via,
    peerDown,
    /** "IF PEER" for each requestRoutes call (a tunnel came up). */
    routeRequests,
    line,
    /** Our client end to the peer says it is up. */
    up: (peer: string): void => line(`openvpn to ${peer}`, 'Initialization Sequence Completed'),
    /** Every end started so far says it is up. */
    upAll: (): void => started.forEach((s) => s.onLine?.('Initialization Sequence Completed', 4242)),
    setUncovered: (u: string[]): void => void (uncovered = u),
    emit: (ev: SupervisorEvent): void => supervisorListeners.forEach((l) => l(ev)),
    tunnelRequest: (prefix: string, from = { serial: '77', host: '10.0.9.9', port: 1194 }, natClass?: WireNatClass) =>
      requestHandler!({ from: { prefix, ...from }, msg: { kind: 'tunnel-request', role: 'client', proto: 'udp', ...(natClass ? { natClass } : {}) }, requestId: 1 }),
    drainMsg: (phase: 'announce' | 'down' | 'ack' | 'cancel', tunnelPort: number, closeInMs = 10_000, from = peerPrefix(2)) =>
      drainListener!({ from: { prefix: from, serial: '2b', host: '10.0.0.2', port: 1194 }, msg: { kind: 'drain', phase, tunnelPort, closeInMs } }),
  };
}
