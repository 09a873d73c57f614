// A control backend with canned answers, and a control server on it in a
// temporary folder, for server and CLI tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { ControlServer } from '../../../daemon/control/server.js';
import type { ControlBackend } from '../../../daemon/control/commands/handler.js';
import type { PeersRequest, PeerView, ReloadReport, StatusResponse, TunnelView } from '../../../daemon/control/protocol.js';
import type { EventLine } from '../../../daemon/events.js';

export const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);

export const sampleStatus: StatusResponse = {
  prefix: 'fd5e:1:2:7::/64',
  address: 'fd5e:1:2:7::1',
  networkPrefix: 'fd5e:1::/48',
  pid: 4242,
  startedAtMs: NOW_MS - 3_600_000,
  uptimeSec: 3600,
  certificate: { serial: '1a', notAfterMs: NOW_MS + 86_400_000 * 300 },
  networkConfig: { version: 3, helloIntervalSec: 1, clientCount: 4, maxClients: 10, tunnelRefreshSec: 300, source: 'peer-db' },
  peers: { total: 3, live: 2, dead: 1 },
  tunnels: { outgoing: 1, incoming: 1, connecting: 0 },
  babeld: { running: true, pid: 4300, routes: 2, neighbours: 2, helloIntervalSec: 1, desiredHelloIntervalSec: 1, answering: true, pending: [] },
  registry: { url: 'https://10.0.0.1:8443', lastContactMs: NOW_MS - 30_000, lastError: null },
  peerProtocol: { port: 1194, received: 10, sent: 12, dropped: 0, sentMac: 8, acceptedMac: 7, linkKeys: 1, refusals: {}, challengesSent: 0, endpointsConfirmed: 1 },
  underlay: { addresses: [{ address: '198.51.100.7:1194', kind: 'public' }], upnp: null, seenAddress: null },
  nat: null,
  links: [],
  lan: null,
  health: [],
};

const peer = (prefix: string, over: Partial<PeerView> = {}): PeerView => ({
  prefix,
  addresses: ['10.1.0.7:1194'],
  source: 'registry',
  firstSeenMs: NOW_MS - 600_000,
  lastSeenMs: NOW_MS - 5_000,
  lastSuccessMs: NOW_MS - 5_000,
  failures: 0,
  dead: false,
  deadReason: null,
  deadCause: null,
  deadSinceMs: null,
  nextRetryMs: null,
  rttMs: 1.25,
  adjacent: true,
  ...over,
});

export const samplePeers: PeerView[] = [
  peer('fd5e:1:2:8::/64'),
  peer('fd5e:1:2:9::/64', {
    dead: true,
    adjacent: false,
    failures: 3,
    deadReason: '3 failed attempts (no answer to tunnel-request)',
    deadCause: 'failures',
    deadSinceMs: NOW_MS - 120_000,
    nextRetryMs: NOW_MS + 480_000,
    rttMs: null,
  }),
];

export const sampleTunnels: TunnelView[] = [
  {
    peer: 'fd5e:1:2:8::/64',
    direction: 'outgoing',
    interface: 'rn1a2b3c4d5e6f',
    state: 'up',
    remote: '10.1.0.8:1195',
    openedAtMs: NOW_MS - 65_000,
    ageSec: 65,
    rxBytesPerSec: 120,
    txBytesPerSec: 2500,
    routes: 2,
    score: 0.75,
    protected: true,
    pid: 4400,
  },
];

export const sampleEvents: EventLine[] = [
  { atMs: NOW_MS - 60_000, kind: 'link-established', text: 'link with fd5e:1:2:8::/64 established via 10.1.0.8:1195/udp', peer: 'fd5e:1:2:8::/64' },
  { atMs: NOW_MS - 10_000, kind: 'peer-dead', text: 'peer fd5e:1:2:9::/64 marked dead: 3 failed attempts (no answer to tunnel-request)', peer: 'fd5e:1:2:9::/64' },
];

export class FakeBackend implements ControlBackend {
  reloads = 0;
  lastPeersRequest: PeersRequest | undefined;
  reloadResult: ReloadReport | Error = {
    path: '/etc/resilnet/resilnet.toml',
    applied: [{ key: 'babel.hello_interval', from: null, to: 1, action: 'apply-live', note: 'sent to the running babeld over its socket' }],
    pending: [],
    skipped: [],
    failed: [],
  };
  status() {
    return sampleStatus;
  }
  peers(req: PeersRequest) {
    this.lastPeersRequest = req;
    return { peers: req.dead ? samplePeers.filter((p) => p.dead) : samplePeers };
  }
  tunnels() {
    return { tunnels: sampleTunnels };
  }
  events(req: { limit: number }) {
    return { events: sampleEvents.slice(-req.limit), dropped: 0 };
  }
  async reload() {
    this.reloads++;
    if (this.reloadResult instanceof Error) throw this.reloadResult;
    return this.reloadResult;
  }
}

/** A started ControlServer over a FakeBackend at DIR/control.sock; stopped and DIR removed at teardown. */
export async function serveFakeBackend(t: ExecutionContext): Promise<{ dir: string; socketPath: string; backend: FakeBackend; server: ControlServer }> {
  const dir = mkdtempSync(join(tmpdir(), 'rn-ctl-'));
  const socketPath = join(dir, 'control.sock');
  const backend = new FakeBackend();
  const server = new ControlServer({ socketPath }, { backend, log: pino({ level: 'silent' }) });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socketPath, backend, server };
}
