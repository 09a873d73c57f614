// The registry's status page in a real browser against a real network: a lab
// of three nodes and a registry, headless Chromium (Debian's package) driven
// by playwright-core inside the registry's namespace, so the page is opened
// from the registry host as an operator would. The page must list every node
// and draw every tunnel the nodes themselves report (`resilnet tunnels --json`),
// refresh itself under its own CSP, and a screenshot is written. A node's
// namespace (not the registry host, no admin certificate) gets 403.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { LabHandle } from '../../lab/handle.js';
import { waitFor } from '../../lab/wait.js';
import { labFor } from './fixture.js';

const run = promisify(execFile);
/** Debian's launcher script (it execs /usr/lib/chromium/chromium with the distribution's flags). */
const CHROMIUM = '/usr/bin/chromium';

/** Every tunnel the nodes report, as "client>server" (an outgoing tunnel's node is its client). */
async function reportedEdges(lab: LabHandle): Promise<string[]> {
  const edges = new Set<string>();
  const lists = await Promise.all(lab.nodes.map(async (n) => ({ n, tunnels: await lab.tunnels(n.name) })));
  for (const { n, tunnels } of lists) {
    for (const tu of tunnels) edges.add(tu.direction === 'outgoing' ? `${n.prefix}>${tu.peer}` : `${tu.peer}>${n.prefix}`);
  }
  return [...edges].sort();
}

interface Drawn {
  rows: string[];
  circles: string[];
  edges: string[];
  labels: string[];
  nat: string[];
}

// A string, not a function: the test runner's compiler adds helpers to functions that do not exist in the page.
const READ_PAGE = `(() => {
  const all = (sel) => [...document.querySelectorAll(sel)];
  return {
    rows: all('#nodes tbody tr').map((e) => e.getAttribute('data-prefix') ?? '').sort(),
    circles: all('#topology g.node').map((e) => e.getAttribute('data-prefix') ?? '').sort(),
    edges: all('#topology g.edge').map((e) => e.getAttribute('data-client') + '>' + e.getAttribute('data-server')).sort(),
    labels: all('#topology g.edge text').map((e) => e.textContent ?? ''),
    nat: all('#nodes td.nat').map((e) => e.textContent ?? ''),
  };
})()`;

async function readPage(page: Page): Promise<Drawn> {
  return (await page.evaluate(READ_PAGE)) as Drawn;
}

test('status page in headless Chromium: every node listed, every reported tunnel drawn, self-refreshing, 403 elsewhere', async (t) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the status-page test needs Debian's chromium (scripts/setup.sh installs it: apt-get install chromium)`);
  const tmp = mkdtempSync(join(tmpdir(), 'rn-status-page-'));
  // Short heartbeats: the registry learns the tunnels soon after they come up.
  const lab = await labFor(t, 'st', { nodes: 3, nat: 0, nodeConfigPatch: () => ({ registry: { heartbeat_interval: 5 } }) });
  const url = `${lab.manifest.layout.registry.url}/`;
  const prefixes = lab.nodes.map((n) => n.prefix as string).sort();

  // Chromium runs inside the registry's namespace; playwright talks to it over pipes, which `ip netns exec` passes on.
  const launcher = join(tmp, 'chromium-in-registry-ns.sh');
  writeFileSync(launcher, `#!/bin/sh\nexec ip netns exec ${lab.manifest.layout.registry.netns} ${CHROMIUM} "$@"\n`);
  chmodSync(launcher, 0o755);
  const browser: Browser = await chromium.launch({ executablePath: launcher, args: ['--no-sandbox'], timeout: 120_000 });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });

  // Tunnels come and go while the network settles, and the registry hears of
  // them a heartbeat later: wait until the page shows exactly what the nodes report.
  const seen = await waitFor(
    async () => {
      const res = await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
      if (res?.status() !== 200) throw new Error(`GET / answered ${res?.status()}: ${await res?.text()}`);
      const drawn = await readPage(page);
      const nodes = await reportedEdges(lab);
      const measured = drawn.labels.some((l) => / ms · /.test(l));
      if (nodes.length >= 2 && drawn.edges.join() === nodes.join() && measured) return { nodes, drawn };
      const why = `nodes report [${nodes.join(', ')}], page draws [${drawn.edges.join(', ')}] labelled [${drawn.labels.join(', ')}]`;
      t.log(why);
      throw new Error(why);
    },
    { timeoutMs: 480_000, intervalMs: 2_000, what: 'the page to draw the tunnels the nodes report, with an RTT' },
  );
  t.log(`nodes report ${seen.nodes.length} tunnels: ${seen.nodes.join(', ')}`);
  t.deepEqual(seen.drawn.rows, prefixes, 'one table row per node');
  t.deepEqual(seen.drawn.circles, prefixes, 'one circle per node');
  t.deepEqual(seen.drawn.edges, seen.nodes, 'one edge per tunnel the nodes report');
  for (const label of seen.drawn.labels) t.regex(label, /^(\d+(\.\d)? ms|-) · \d+(\.\d)? (B|kB|MB|GB|TB)$/);
  for (const nat of seen.drawn.nat) t.regex(nat, /^(-|public|upnp|eim|apdm|unknown)$/);

  // The CLI shows the same nodes and tunnel counts.
  const cli = JSON.parse(await lab.registry('nodes', '--json')) as { nodes: { prefix: string; tunnels: number; tunnel_list: unknown[]; nat_class: string | null }[] };
  t.deepEqual(cli.nodes.map((n) => n.prefix).sort(), prefixes);
  for (const n of cli.nodes) t.is(n.tunnel_list.length, n.tunnels);

  // The inline script refreshes the page (allowed by the page's CSP).
  // Polled from here with a function (page.waitForFunction would eval a string in the page, which its CSP forbids).
  await waitFor(async () => {
    const text = await page.evaluate(() => document.getElementById('refresh')?.textContent ?? '');
    if (!text.startsWith('updated')) throw new Error(`refresh line: ${JSON.stringify(text)}`);
    return true;
  }, { timeoutMs: 60_000, intervalMs: 500, what: 'the page to refresh itself' });
  t.deepEqual((await readPage(page)).rows, prefixes, 'still every node after a refresh');
  t.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused/i.test(e)), [], 'no CSP violation');

  const shot = join(tmp, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.deepEqual([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
  t.log(`screenshot: ${shot}`);
  console.log(`status page screenshot: ${shot}`);

  // From a node's namespace: not the registry host, no admin certificate.
  const probe = `require('https').get(process.argv[1], { rejectUnauthorized: false }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(r.statusCode + ' ' + b)); })`;
  const far = await run('ip', ['netns', 'exec', lab.node('n1').netns, process.execPath, '-e', probe, url]);
  t.regex(far.stdout, /^403 403 Forbidden: the status page is for the registry's administrators/);
});
