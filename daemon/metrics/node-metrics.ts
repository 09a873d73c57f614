// The node daemon's metrics (listed in docs/metrics.md). Nothing runs between
// scrapes: each scrape takes one snapshot of the running parts and every gauge
// reads it in its collect(); the two counters count supervisor events and reloads
// as they happen. One prom-client Registry per instance, never the global one.
import { Counter, Gauge, Registry } from './prom.js';
import { selectPeers, type NodeMetricsSnapshot } from './node-snapshot.js';

export type ReloadResult = 'applied' | 'failed' | 'refused';

const TUNNEL_STATES = ['connecting', 'up', 'draining'] as const;
const LINK_STATES = ['waiting', 'alive', 'lost'] as const;

export interface NodeMetricsOptions {
  /** Busiest destinations without a tunnel that get per-peer series. */
  topPeers: number;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private snap: NodeMetricsSnapshot | undefined;
  private peers: string[] = [];
  private readonly childRestarts: Counter<'child'>;
  private readonly reloads: Counter<'result'>;

  constructor(
    private readonly read: () => NodeMetricsSnapshot,
    private readonly options: NodeMetricsOptions,
  ) {
    const registers = [this.registry];
    // Each metric is cleared and filled from the scrape's snapshot (counters too: their
    // values are the parts' own totals, so they only reset when those do).
    type Fill<L extends string> = (set: (labels: Partial<Record<L, string>>, v: number) => void, s: NodeMetricsSnapshot) => void;
    const filled = <L extends string>(kind: 'gauge' | 'counter', name: string, help: string, labelNames: readonly L[], fill: Fill<L>): void => {
      const self = this;
      if (kind === 'gauge') {
        new Gauge<L>({ name, help, labelNames, registers, collect() {
          this.reset();
          if (self.snap) fill((labels, v) => this.set(labels, v), self.snap);
        } });
      } else {
        new Counter<L>({ name, help, labelNames, registers, collect() {
          this.reset();
          if (self.snap) fill((labels, v) => this.inc(labels, v), self.snap);
        } });
      }
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: Fill<L>) => filled('gauge', name, help, labelNames, fill);
    const inSelection = (peer: string) => this.peers.includes(peer);

    gauge('resilnet_node_info', 'Always 1; the node prefix as a label.', ['prefix'], (set, s) => s.prefix && set({ prefix: s.prefix }, 1));
    gauge('resilnet_uptime_seconds', 'Seconds since the daemon started.', [], (set, s) => set({}, (s.nowMs - s.startedAtMs) / 1000));

    // ---- per peer (bounded: tunnel peers + the topPeers busiest destinations)
    gauge('resilnet_peer_tunnel_state', 'Tunnel with the peer: 1 for its current state (connecting, up, draining), else 0.', ['peer', 'direction', 'state'], (set, s) => {
      for (const t of s.tunnels) for (const state of TUNNEL_STATES) set({ peer: t.peer, direction: t.direction, state }, t.state === state ? 1 : 0);
    });
    gauge('resilnet_peer_link_state', 'Link liveness of the tunnel with the peer: 1 for its current state (waiting, alive, lost), else 0.', ['peer', 'state'], (set, s) => {
      for (const l of s.links) for (const state of LINK_STATES) set({ peer: l.peer, state }, l.state === state ? 1 : 0);
    });
    gauge('resilnet_peer_link_flaps', 'Times the link with the peer was lost and restored since its tunnel opened.', ['peer'], (set, s) => {
      for (const l of s.links) set({ peer: l.peer }, l.flaps);
    });
    gauge('resilnet_peer_routes', 'Babel routes installed through the tunnel with the peer.', ['peer'], (set, s) => {
      for (const t of s.tunnels) set({ peer: t.peer }, t.routes);
    });
    const bytes = (name: string, help: string, pick: (t: NodeMetricsSnapshot['tunnels'][number]) => number | null) =>
      filled('counter', name, help, ['peer'], (set, s) => {
        for (const t of s.tunnels) {
          const v = pick(t);
          if (v !== null) set({ peer: t.peer }, v);
        }
      });
    bytes('resilnet_peer_receive_bytes_total', 'Bytes received on the tunnel interface with the peer since it was created (sampled every 5 s).', (t) => t.rxBytes);
    bytes('resilnet_peer_transmit_bytes_total', 'Bytes sent on the tunnel interface with the peer since it was created (sampled every 5 s).', (t) => t.txBytes);
    gauge('resilnet_peer_traffic_bytes_per_second', 'Our traffic with the peer\'s prefix (nftables, smoothed over a minute), by direction.', ['peer', 'direction'], (set, s) => {
      for (const d of s.destinations) {
        if (!inSelection(d.prefix)) continue;
        set({ peer: d.prefix, direction: 'receive' }, d.rxBytesPerSec);
        set({ peer: d.prefix, direction: 'transmit' }, d.txBytesPerSec);
      }
    });
    gauge('resilnet_peer_rtt_seconds', 'Last round-trip time measured to the peer (peer protocol hello).', ['peer'], (set, s) => {
      for (const peer of this.peers) {
        const rtt = s.rttMs.get(peer);
        if (rtt !== undefined) set({ peer }, rtt / 1000);
      }
    });
    gauge('resilnet_peer_series_omitted', 'Destinations with measured traffic left out of the per-peer series by metrics.top_peers.', [], (set, s) => {
      set({}, s.destinations.filter((d) => !inSelection(d.prefix)).length);
    });

    // ---- the node
    gauge('resilnet_tunnels', 'Tunnels by direction and state.', ['direction', 'state'], (set, s) => {
      for (const direction of ['outgoing', 'incoming'] as const) {
        for (const state of TUNNEL_STATES) set({ direction, state }, s.tunnels.filter((t) => t.direction === direction && t.state === state).length);
      }
    });
    gauge('resilnet_peers', 'Peers in the peer DB, live or dead.', ['state'], (set, s) => {
      set({ state: 'live' }, s.peers.live);
      set({ state: 'dead' }, s.peers.dead);
    });
    gauge('resilnet_babel_routes', 'Routes babeld knows.', [], (set, s) => s.babel && set({}, s.babel.routes));
    gauge('resilnet_babel_neighbours', 'Babel neighbours with a usable link.', [], (set, s) => s.babel && set({}, s.babel.neighbours));
    gauge('resilnet_babeld_up', '1 when babeld runs and answered its last statement, else 0.', [], (set, s) => set({}, s.babel?.running && s.babel.answering ? 1 : 0));
    gauge(
      'resilnet_registry_last_contact_age_seconds',
      'Seconds since the registry last answered (since the daemon started while it never has).',
      [],
      (set, s) => set({}, (s.nowMs - (s.registryLastContactMs ?? s.startedAtMs)) / 1000),
    );
    gauge('resilnet_certificate_expiry_timestamp_seconds', 'When this node\'s certificate expires (Unix time).', [], (set, s) => {
      if (s.certificateNotAfterMs !== null) set({}, s.certificateNotAfterMs / 1000);
    });
    gauge('resilnet_event_loop_delay_seconds', 'Worst lateness of the daemon\'s timers in the last minute (a starved or blocked event loop).', [], (set, s) => set({}, s.eventLoopDelayMs / 1000));
    gauge('process_resident_memory_bytes', 'Resident memory of the daemon.', [], (set) => set({}, process.memoryUsage.rss()));
    filled('counter', 'process_cpu_seconds_total', 'CPU time of the daemon, user + system.', [], (set) => {
      const u = process.cpuUsage();
      set({}, (u.user + u.system) / 1e6);
    });

    this.childRestarts = new Counter({ name: 'resilnet_child_restarts_total', help: 'Restarts of supervised children (babeld, openvpn) by the daemon.', labelNames: ['child'], registers });
    this.reloads = new Counter({ name: 'resilnet_reloads_total', help: 'Reloads of resilnet.toml: applied, failed (a part refused a change) or refused (invalid file).', labelNames: ['result'], registers });
    for (const child of ['babeld', 'openvpn']) this.childRestarts.inc({ child }, 0);
    for (const result of ['applied', 'failed', 'refused']) this.reloads.inc({ result }, 0);
  }

  /** The exposition text of one scrape. */
  async scrape(): Promise<string> {
    this.snap = this.read();
    this.peers = selectPeers(this.snap, this.options.topPeers);
    try {
      return await this.registry.metrics();
    } finally {
      this.snap = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A supervised child was started again (its name: "babeld", "openvpn to P", …). */
  childRestarted(name: string): void {
    this.childRestarts.inc({ child: name.split(' ')[0] ?? name });
  }

  reloaded(result: ReloadResult): void {
    this.reloads.inc({ result });
  }
}
