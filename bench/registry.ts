// Registry throughput on loopback: enrolments/s, heartbeats/s and bootstrap
// requests/s with p50/p99 latency. The registry runs as its own process
// (`resilnet registry serve`, one Node thread = one core); this process is the
// load generator. Prints a table, then one JSON line.
//
//   npm run bench:registry [-- --enrolments 400 --requests 20000 --concurrency 32 --profile-dir DIR]
// (--profile-dir writes a V8 CPU profile of the registry process there.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../cli/main.js';
import { createCsrPem, generateKeyPem } from '../pki/keys.js';
import { initRegistry } from '../registry/init.js';
import { RegistryClient } from '../wire/registry-client.js';

interface Result {
  name: string;
  requests: number;
  seconds: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds the registry process spent, and the rate that implies for one fully used core. */
  serverCpuSec: number;
  perCoreSec: number;
}

/** user+system CPU seconds of a process (Linux /proc; clock ticks assumed 100/s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `total` calls with `concurrency` in flight; returns the rate and latency percentiles. */
async function measure(name: string, total: number, concurrency: number, serverPid: number, call: (i: number) => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  const cpu0 = cpuSeconds(serverPid);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpuSec = cpuSeconds(serverPid) - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    name, requests: total, seconds, perSec: total / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
    serverCpuSec, perCoreSec: serverCpuSec > 0 ? total / serverCpuSec : 0,
  };
}

async function serveChild(dir: string): Promise<void> {
  process.exitCode = await main(['registry', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '', '--ready-file', join(dir, 'ready.json')], {
    stdout: { write: () => true }, // keep the registry's logs out of the figures
    stderr: process.stderr,
  });
}

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      enrolments: { type: 'string', default: '400' },
      requests: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '32' },
      nodes: { type: 'string', default: '50' },
      'profile-dir': { type: 'string' },
    },
  });
  const enrolments = Number(values.enrolments);
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const nodeCount = Math.min(Number(values.nodes), enrolments);

  const dir = mkdtempSync(join(tmpdir(), 'rn-bench-'));
  const regDir = join(dir, 'reg');
  await initRegistry({ dir: regDir, prefix: 'fd42:be::/48', nodePrefixLength: 64, certDays: 365, nowMs: Date.now() });
  const profile = values['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${values['profile-dir']}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', new URL(import.meta.url).pathname, '--serve-child', regDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  const cleanup = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const readyPath = join(regDir, 'ready.json');
    const deadline = Date.now() + 60_000;
    while (!existsSync(readyPath)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('registry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const { url } = JSON.parse(readFileSync(readyPath, 'utf8')) as { url: string };
    const caPem = readFileSync(join(regDir, 'ca.crt'), 'utf8');

    let out = '';
    await main(['registry', 'token', 'add', '--dir', regDir, '--uses', String(enrolments + 10)], { stdout: { write: (s: string) => (out += s) }, stderr: process.stderr });
    const token = out.trim();

    process.stderr.write(`preparing ${enrolments} keys and CSRs…\n`);
    const keys = Array.from({ length: enrolments }, () => generateKeyPem());
    const csrs = await Promise.all(keys.map((k) => createCsrPem(k)));

    const enrolClient = new RegistryClient({ url, caPem });
    const certs: string[] = new Array(enrolments);
    const results: Result[] = [];
    results.push(await measure('enrol', enrolments, Math.min(concurrency, 16), child.pid!, async (i) => {
      certs[i] = (await enrolClient.enrol(token, csrs[i]!)).certificate;
    }));
    enrolClient.close();

    const clients = Array.from({ length: nodeCount }, (_, i) => new RegistryClient({ url, caPem, certPem: certs[i]!, keyPem: keys[i]! }));
    const heartbeat = (i: number) => ({
      port: 1194,
      addresses: [{ address: `10.0.${i % 256}.1`, kind: 'internal' as const }],
      tunnels: [{ peer: 'fd42:be::/64', role: 'client' as const, rx_bytes: i, tx_bytes: i, rtt_ms: 1.2 }],
      network_config_version: 1,
    });
    // Warm the keep-alive connections and make every node bootstrap-visible.
    await Promise.all(clients.map((c, i) => c.heartbeat(heartbeat(i))));
    results.push(await measure('heartbeat', requests, concurrency, child.pid!, (i) => clients[i % nodeCount]!.heartbeat(heartbeat(i))));
    results.push(await measure('bootstrap(8)', requests, concurrency, child.pid!, (i) => clients[i % nodeCount]!.bootstrap(8)));
    for (const c of clients) c.close();

    const fmt = (n: number, d = 1) => n.toFixed(d);
    const lines = [
      `registry benchmark on loopback (registry: 1 process; load: this process; ${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'})`,
      `${'operation'.padEnd(14)}${'requests'.padStart(10)}${'seconds'.padStart(10)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'srv CPU s'.padStart(11)}${'req/CPU-s'.padStart(11)}`,
      ...results.map((r) => `${r.name.padEnd(14)}${String(r.requests).padStart(10)}${fmt(r.seconds, 2).padStart(10)}${fmt(r.perSec, 0).padStart(10)}${fmt(r.p50Ms, 2).padStart(10)}${fmt(r.p99Ms, 2).padStart(10)}${fmt(r.serverCpuSec, 2).padStart(11)}${fmt(r.perCoreSec, 0).padStart(11)}`),
      'req/s: measured wall-clock rate (the load generator shares the machine); req/CPU-s: requests per CPU-second of the registry process, i.e. its one-core capacity.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const json = Object.fromEntries(results.map((r) => [r.name.replace(/\W.*$/, ''), { requests: r.requests, per_sec: Math.round(r.perSec), p50_ms: +r.p50Ms.toFixed(3), p99_ms: +r.p99Ms.toFixed(3), server_cpu_sec: +r.serverCpuSec.toFixed(2), per_cpu_sec: Math.round(r.perCoreSec) }]));
    process.stdout.write(`${JSON.stringify({ bench: 'registry', concurrency, nodes: nodeCount, ...json })}\n`);
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === '--serve-child') await serveChild(process.argv[3]!);
else await run();
