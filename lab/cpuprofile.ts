// Summaries of a V8 CPU profile (`node --cpu-prof`), pure: self time per
// function and time per group of work, over a window of the profile. A sample
// belongs to the first group found walking its stack from the leaf up, so
// "timers" only gets what no more specific group claimed.

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between samples (the first is from startTime). */
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  /** Script (last path part) and line. */
  where: string;
  selfUs: number;
}

export interface ProfileSummary {
  wallMs: number;
  /** CPU time of the samples that were not "(idle)". */
  busyUs: number;
  samples: number;
  groups: Map<string, number>;
  /** By self time, largest first; "(idle)" left out. */
  functions: FunctionTime[];
}

/** Names a frame's group, or undefined to look further up the stack. */
export type Grouper = (frame: CallFrame) => string | undefined;

const has = (names: string[]) => {
  const set = new Set(names);
  return (f: CallFrame) => set.has(f.functionName);
};

/** The daemon's groups of work, by function names as the bundle keeps them and by script. */
const GROUP_RULES: Array<[string, (f: CallFrame) => boolean]> = [
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['program (VM, natives)', (f) => f.functionName === '(program)'],
  ['logging (pino)', (f) => /pino|sonic-boom/.test(f.url) || ['asJson', 'LOG', 'genLog'].includes(f.functionName)],
  ['babel monitor (socket lines, parse, table)', has(['parseBabelLine', 'applyBabelEvent', 'applyBabelEventInPlace', 'routeCountsByInterface', 'noteInstalled', 'runMonitor', 'monitor', 'onData', 'nextLine', 'pairs'])],
  ['link hellos (peer protocol, link monitor)', has(['sendHello', 'onPacket', 'receive', 'receiveUnsafe', 'linkTag', 'linkTagValid', 'encodePacket', 'decodePacket', 'certFor', 'checkLinkLiveness', 'tick', 'sync', 'nextLivenessDeadlineMs', 'helloMessage'])],
  ['spawns (child_process)', (f) => f.url.includes('child_process') || ['runFile', 'runIp'].includes(f.functionName)],
  ['peer DB, events DB (sqlite)', (f) => f.url.includes('better-sqlite3') || has(['getPeer', 'listPeers', 'transaction', 'flush', 'prune'])(f)],
  ['traffic sample (/proc/net/dev)', has(['readNetDevSync', 'parseNetDev', 'sampleTraffic'])],
  ['tunnel plan', has(['planRound', 'planTunnels'])],
  ['UDP (dgram)', (f) => f.url.includes('dgram')],
  ['fs', (f) => f.url === 'node:fs' || f.url.startsWith('node:internal/fs')],
  ['timers (other)', (f) => f.url.startsWith('node:internal/timers') || ['listOnTimeout', 'processTimers'].includes(f.functionName)],
  ['promises, microtasks', (f) => ['processTicksAndRejections', 'runMicrotasks'].includes(f.functionName)],
];

export const groupOf: Grouper = (frame) => {
  for (const [name, test] of GROUP_RULES) if (test(frame)) return name;
  return undefined;
};

function whereOf(f: CallFrame): string {
  const script = f.url.split('/').at(-1) || f.url || '(native)';
  return `${script}:${f.lineNumber + 1}`;
}

/** Self time per function and time per group, for the samples taken `fromMs`…`toMs` after the profile's start. */
export function summarizeProfile(p: CpuProfile, window: { fromMs: number; toMs: number }, grouper: Grouper): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const groupCache = new Map<number, string>();
  const groupFor = (id: number): string => {
    const cached = groupCache.get(id);
    if (cached !== undefined) return cached;
    let group = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const g = grouper(byId.get(at)!.callFrame);
      if (g !== undefined) {
        group = g;
        break;
      }
    }
    groupCache.set(id, group);
    return group;
  };
  const selfUs = new Map<number, number>();
  const groups = new Map<string, number>();
  let t = p.startTime;
  let busyUs = 0;
  let samples = 0;
  let firstUs: number | undefined;
  let lastUs: number | undefined;
  for (let i = 0; i < p.samples.length; i++) {
    const delta = p.timeDeltas[i] ?? 0;
    t += delta;
    const atMs = (t - p.startTime) / 1000;
    if (atMs < window.fromMs || atMs > window.toMs) continue;
    firstUs ??= t - delta;
    lastUs = t;
    // A sample stands for the time until the next one.
    const us = p.timeDeltas[i + 1] ?? 0;
    const id = p.samples[i]!;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    samples++;
    busyUs += us;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
    const g = groupFor(id);
    groups.set(g, (groups.get(g) ?? 0) + us);
  }
  // Self time per function (frames of one function at several call sites are added up).
  const perFunction = new Map<string, FunctionTime>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName}@${f.url}:${f.lineNumber}:${f.columnNumber}`;
    const known = perFunction.get(key);
    if (known) known.selfUs += us;
    else perFunction.set(key, { name: f.functionName || '(anonymous)', where: whereOf(f), selfUs: us });
  }
  return {
    wallMs: firstUs === undefined || lastUs === undefined ? 0 : (lastUs - firstUs) / 1000,
    busyUs,
    samples,
    groups,
    functions: [...perFunction.values()].sort((a, b) => b.selfUs - a.selfUs),
  };
}
