// The status page's pure parts: HTML/SVG rendering (escaping, empty registry,
// a node that never sent a heartbeat), the topology built from heartbeat
// reports, and the access rule; plus the page handler refusing a non-admin.
import test from 'ava';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import type { CertInfo } from '../../pki/identity.js';
import type { RegistryService, StatusNodeView, StatusSnapshot } from '../../registry/service.js';
import { adminFingerprintSet, decideAccess, isLoopback } from '../../registry/status-page/access.js';
import { formatAgo, formatBytes, formatRtt } from '../../registry/status-page/format.js';
import { CONTENT_SECURITY_POLICY, escapeHtml, renderStatusPage } from '../../registry/status-page/render.js';
import { createStatusPage } from '../../registry/status-page/server.js';
import { MAX_DRAWN_NODES, buildTopology } from '../../registry/status-page/topology.js';

const NOW = Date.parse('2026-12-05T12:00:00Z');
const A = 'fd42:1:0:1::/64';
const B = 'fd42:1:0:2::/64';
const C = 'fd42:1:0:3::/64';

function node(prefix: string, over: Partial<StatusNodeView> = {}): StatusNodeView {
  const tunnel_list = over.tunnel_list ?? [];
  return {
    prefix, state: 'online', enrolled_at: '2026-12-01T00:00:00.000Z', expires_at: '2027-12-01T00:00:00.000Z', revoked_at: null,
    last_seen: '2026-12-05T11:59:50.000Z', seen_address: '198.51.100.1', port: 1194, addresses: [], nat_class: 'eim',
    network_config_version: 1, ...over, tunnel_list, tunnels: tunnel_list.length,
  };
}

function snapshot(nodes: StatusNodeView[], total = nodes.length): StatusSnapshot {
  return { generated_at: new Date(NOW).toISOString(), network_prefix: 'fd42:1::/48', total_nodes: total, offline_after_sec: 900, nodes };
}

const tunnel = (peer: string, role: 'client' | 'server', rtt_ms: number | null = 2.5, bytes = 1000) =>
  ({ peer, role, rx_bytes: bytes, tx_bytes: bytes, rtt_ms });

// ---- rendering -----------------------------------------------------------------

test('everything taken from the store is escaped: no tag or attribute breaks out', (t) => {
  const evil = '<script>alert(1)</script>"\'&';
  const html = renderStatusPage(
    snapshot([node(A, { seen_address: evil, nat_class: null, tunnel_list: [tunnel(`x"><img src=x onerror=alert(1)>`, 'client')] })]),
    NOW,
  );
  t.false(html.includes('<script>alert'), 'raw script tag from the store');
  t.false(html.includes('<img'), 'raw img tag from a tunnel peer');
  t.true(html.includes(escapeHtml(evil)));
  t.is(escapeHtml(`<a href="x" title='y'>&`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;');
  // Exactly one script element: the page's own.
  t.is(html.match(/<script/g)?.length, 1);
});

test('the CSP allows exactly the inline style and script the page carries', (t) => {
  const html = renderStatusPage(snapshot([node(A)]), NOW);
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  t.true(CONTENT_SECURITY_POLICY.includes(`script-src ${hash(script)}`));
  t.true(CONTENT_SECURITY_POLICY.includes(`style-src ${hash(style)}`));
  t.regex(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  t.false(/\bsrc=|href=|@import|url\(/.test(html), 'no external assets');
});

test('an empty registry renders a page that says so', (t) => {
  const html = renderStatusPage(snapshot([]), NOW);
  t.regex(html, /No nodes registered yet/);
  t.regex(html, /no nodes registered yet<\/text>/);
  t.regex(html, /0 nodes registered, 0 online/);
  t.false(html.includes('<table'));
  t.false(html.includes('class="node '));
});

test('a node without heartbeats: never-seen, no address, NAT "-", no tunnels, still drawn', (t) => {
  const quiet = node(B, { state: 'never-seen', last_seen: null, seen_address: null, port: null, nat_class: null });
  const html = renderStatusPage(snapshot([quiet]), NOW);
  const row = new RegExp(`<tr data-prefix="${B.replace(/[/]/g, '\\/')}">(.*?)</tr>`).exec(html)![1]!;
  t.regex(row, /state-never-seen">never-seen</);
  t.regex(row, /<td title="never">never<\/td>/);
  t.regex(row, /<td class="nat">-<\/td>/);
  t.regex(row, /<td class="tunnel-count">0<\/td>/);
  t.regex(html, new RegExp(`class="node state-never-seen" data-prefix="${B}"`));
  t.regex(html, /no tunnels reported<\/text>/);
});

test('rows show NAT class, tunnels with peers and RTT, certificate expiry; edges carry RTT and traffic', (t) => {
  const html = renderStatusPage(snapshot([node(A, { tunnel_list: [tunnel(B, 'client', 3.25, 600_000)] }), node(B, { nat_class: 'upnp', tunnel_list: [tunnel(A, 'server', null, 600_000)] })]), NOW);
  t.regex(html, /<td class="nat">upnp<\/td>/);
  t.regex(html, new RegExp(`<li>→ ${B} · 3.3 ms · 1.2 MB</li>`));
  t.regex(html, /2027-12-01T00:00:00.000Z/);
  t.regex(html, new RegExp(`<g class="edge" data-client="${A}" data-server="${B}">`));
  t.regex(html, /<text [^>]*>3.3 ms · 1.2 MB<\/text>/);
  t.is(html.match(/<g class="edge[ "]/g)?.length, 1);
});

// ---- topology -------------------------------------------------------------------

test('the two reports of one tunnel are one edge; tunnels each way are two; unknown peers are counted, not drawn', (t) => {
  const topo = buildTopology([
    node(A, { tunnel_list: [tunnel(B, 'client', null, 10), tunnel(B, 'server', 7, 10), tunnel('fd42:1:0:99::/64', 'client')] }),
    node(B, { tunnel_list: [tunnel(A, 'server', 4, 50), tunnel(A, 'client', 6, 10)] }),
    node(C),
  ]);
  t.deepEqual(
    topo.edges.map((e) => ({ ...e, reportedBy: [...e.reportedBy].sort() })),
    [
      { client: A, server: B, rttMs: 4, bytes: 100, reportedBy: ['client', 'server'] },
      { client: B, server: A, rttMs: 6, bytes: 20, reportedBy: ['client', 'server'] },
    ],
  );
  t.deepEqual(topo.notDrawn, { nodes: 0, edges: 1 });
  t.is(topo.nodes.length, 3);
  // Every circle inside the picture.
  for (const n of topo.nodes) t.true(n.x > 0 && n.y > 0 && n.x < topo.width && n.y < topo.height);
});

test(`at most ${MAX_DRAWN_NODES} circles are drawn; the rest are counted`, (t) => {
  const many = Array.from({ length: MAX_DRAWN_NODES + 7 }, (_, i) => node(`fd42:1:0:${(i + 1).toString(16)}::/64`));
  const topo = buildTopology(many);
  t.is(topo.nodes.length, MAX_DRAWN_NODES);
  t.is(topo.notDrawn.nodes, 7);
  const html = renderStatusPage(snapshot(many, 900), NOW);
  t.regex(html, /listing 207 of 900 nodes/);
  t.regex(html, /7 listed node\(s\) not drawn/);
});

test('formats: bytes, RTT, age', (t) => {
  t.is(formatBytes(999), '999 B');
  t.is(formatBytes(1234), '1.2 kB');
  t.is(formatBytes(45_600_000), '46 MB');
  t.is(formatRtt(null), '-');
  t.is(formatRtt(0.42), '0.4 ms');
  t.is(formatRtt(123.4), '123 ms');
  t.is(formatAgo(null, NOW), 'never');
  t.is(formatAgo(new Date(NOW - 5000).toISOString(), NOW), '5 s ago');
  t.is(formatAgo(new Date(NOW - 3 * 3600_000).toISOString(), NOW), '3 h ago');
});

// ---- access ---------------------------------------------------------------------

const FP = `sha256:${'ab'.repeat(32)}`;
const certOf = (fingerprint: string) => (): CertInfo => ({ prefix: A, serial: '10', notBeforeMs: 0, notAfterMs: 1, fingerprint } as CertInfo);
const noCertCheck = (): CertInfo => {
  throw new Error('must not be called');
};

test('loopback and same-host connections are admin; the certificate is not even looked at', (t) => {
  for (const ip of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
    t.true(isLoopback(ip), ip);
    t.deepEqual(decideAccess({ remoteAddress: ip, localAddress: '10.0.0.1', certificate: undefined }, new Set(), noCertCheck), { allowed: true, via: 'loopback' });
  }
  t.false(isLoopback('10.127.0.1'));
  t.deepEqual(
    decideAccess({ remoteAddress: '::ffff:10.0.0.1', localAddress: '10.0.0.1', certificate: undefined }, new Set(), noCertCheck),
    { allowed: true, via: 'same-host' },
  );
});

test('from elsewhere: refused without a certificate, with a refused one, and with one that has no admin role', (t) => {
  const peer = { remoteAddress: '198.51.100.7', localAddress: '10.0.0.1' };
  const none = decideAccess({ ...peer, certificate: undefined }, new Set([FP]), noCertCheck);
  t.false(none.allowed);
  t.regex((none as { reason: string }).reason, /198\.51\.100\.7 without a client certificate.*registry host/);
  const revoked = decideAccess({ ...peer, certificate: Buffer.from([1]) }, new Set([FP]), () => {
    throw new ResilnetError('RN_PKI_CERT_REVOKED', `node ${A} is revoked`);
  });
  t.regex((revoked as { reason: string }).reason, /certificate was refused \(node .* is revoked\)/);
  const plain = decideAccess({ ...peer, certificate: Buffer.from([1]) }, new Set([FP]), certOf(`sha256:${'cd'.repeat(32)}`));
  t.regex((plain as { reason: string }).reason, /has no admin role/);
  t.deepEqual(decideAccess({ ...peer, certificate: Buffer.from([1]) }, new Set([FP]), certOf(FP)), { allowed: true, via: 'admin-certificate' });
});

test('admin fingerprints are normalised; a bad one is refused with its text', (t) => {
  t.deepEqual([...adminFingerprintSet([`SHA256:${'AB:'.repeat(31)}AB`])], [FP]);
  const err = t.throws(() => adminFingerprintSet(['sha256:nothex']), { instanceOf: ResilnetError });
  t.is(err.code, 'RN_PKI_FINGERPRINT_INVALID');
});

// ---- the handler ------------------------------------------------------------------

function fakeExchange(method: string, url: string, remoteAddress: string) {
  const req = { method, url, socket: { remoteAddress, localAddress: '10.0.0.1', getPeerCertificate: () => ({}) } } as unknown as IncomingMessage;
  const out = { status: 0, headers: {} as Record<string, unknown>, body: '' };
  const res = {
    headersSent: false, destroyed: false,
    writeHead(status: number, headers: Record<string, unknown>) { out.status = status; out.headers = headers; return this; },
    end(body: string) { out.body = body; },
  } as unknown as ServerResponse;
  return { req, res, out };
}

test('the handler: 403 with a clear text for a non-admin, the page and JSON for the registry host, 405 for POST', (t) => {
  let snapshots = 0;
  const service = {
    statusSnapshot: (limit: number) => (snapshots++, t.is(limit, 500), snapshot([node(A)])),
    authenticate: () => {
      throw new ResilnetError('RN_REGISTRY_AUTH_REQUIRED', 'no certificate');
    },
  } as unknown as RegistryService;
  const page = createStatusPage({ service, log: pino({ level: 'silent' }), nowMs: () => NOW });

  const far = fakeExchange('GET', '/', '198.51.100.7');
  t.true(page.serves(far.req));
  page.handle(far.req, far.res);
  t.is(far.out.status, 403);
  t.regex(far.out.headers['content-type'] as string, /^text\/plain/);
  t.regex(far.out.body, /^403 Forbidden: the status page is for the registry's administrators/);

  const farJson = fakeExchange('GET', '/status.json', '198.51.100.7');
  page.handle(farJson.req, farJson.res);
  t.is(farJson.out.status, 403);
  t.is((JSON.parse(farJson.out.body) as { error: { code: string } }).error.code, 'RN_REGISTRY_ADMIN_ONLY');
  t.is(snapshots, 0, 'nothing read for a refused request');

  const near = fakeExchange('GET', '/?x=1', '127.0.0.1');
  page.handle(near.req, near.res);
  t.is(near.out.status, 200);
  t.regex(near.out.headers['content-type'] as string, /^text\/html/);
  t.is(near.out.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.regex(near.out.body, new RegExp(`data-prefix="${A}"`));
  const json = fakeExchange('GET', '/status.json', '::1');
  page.handle(json.req, json.res);
  t.is((JSON.parse(json.out.body) as StatusSnapshot).nodes[0]!.prefix, A);
  t.is(snapshots, 1, 'one snapshot serves requests within a second');

  const post = fakeExchange('POST', '/', '127.0.0.1');
  page.handle(post.req, post.res);
  t.is(post.out.status, 405);
  t.is(post.out.headers.allow, 'GET');
  t.false(page.serves(fakeExchange('GET', '/v1/health', '127.0.0.1').req));
});
