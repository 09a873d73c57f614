// A continuous ping between two lab nodes, to measure an outage: `ping -D`
// timestamps every reply; the outage is the largest gap between replies.
// Parsing is pure; the runner part spawns ping inside the source namespace.
import { spawn } from 'node:child_process';
import { resolveArgv } from './preflight.js';

export interface PingReply {
  seq: number;
  atMs: number;
}

export interface PingLog {
  replies: PingReply[];
  transmitted: number | null;
  received: number | null;
}

const REPLY = /^\[(\d+\.\d+)\] \d+ bytes from \S+ icmp_seq=(\d+)/;
const SUMMARY = /(\d+) packets transmitted, (\d+) received/;

export function parsePingLog(text: string): PingLog {
  const replies: PingReply[] = [];
  let transmitted: number | null = null;
  let received: number | null = null;
  for (const line of text.split('\n')) {
    const r = REPLY.exec(line);
    if (r?.[1] && r[2]) replies.push({ seq: Number(r[2]), atMs: Math.round(Number(r[1]) * 1000) });
    const s = SUMMARY.exec(line);
    if (s?.[1] && s[2]) {
      transmitted = Number(s[1]);
      received = Number(s[2]);
    }
  }
  return { replies, transmitted, received };
}

/** Largest gap between consecutive replies at or after `sinceMs` (includes the gap that spans it). */
export function largestGapMs(replies: PingReply[], sinceMs = 0): { gapMs: number; fromMs: number; toMs: number } {
  let best = { gapMs: 0, fromMs: 0, toMs: 0 };
  const sorted = [...replies].sort((a, b) => a.atMs - b.atMs);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as PingReply;
    const cur = sorted[i] as PingReply;
    if (cur.atMs < sinceMs) continue;
    const gap = cur.atMs - prev.atMs;
    if (gap > best.gapMs) best = { gapMs: gap, fromMs: prev.atMs, toMs: cur.atMs };
  }
  return best;
}

export interface ContinuousPing {
  /** Replies so far. */
  log(): PingLog;
  /** Stops ping (SIGINT, so it prints its summary) and returns the full log. */
  stop(): Promise<PingLog>;
}

export function startContinuousPing(netns: string, address: string, intervalSec = 0.05, sizeBytes = 56): ContinuousPing {
  const [ip, ...args] = resolveArgv(['ip', 'netns', 'exec', netns, 'ping', '-6', '-n', '-D', '-i', String(intervalSec), '-s', String(sizeBytes), '-W', '1', address]);
  const child = spawn(ip ?? 'ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.resume();
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    log: () => parsePingLog(out),
    async stop() {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      return parsePingLog(out);
    },
  };
}
