// babeld 1.12 local-socket lines → typed events. Pure and total: every input line
// yields an event, `{ kind: 'unknown' }` for anything not understood, so a newer
// babeld (or garbage on the socket) cannot crash the daemon. Formats: REPORT.md §5.

export type BabelAction = 'add' | 'change' | 'flush';

export interface BabelInterface {
  name: string;
  up: boolean;
  ipv6?: string;
  ipv4?: string;
}

export interface BabelNeighbour {
  /** Opaque id babeld gives the object (stable while it lives). */
  id: string;
  address: string;
  ifName: string;
  /** 16-bit hello history; the top bit is the latest hello. */
  reach: number;
  ureach: number;
  rxcost: number;
  txcost: number;
  /** Missing until babeld measured one. */
  rttMs?: number;
  rttCost?: number;
  cost: number;
}

export interface BabelRoute {
  id: string;
  prefix: string;
  from: string;
  installed: boolean;
  /** The originating router's id (EUI-64 form). */
  routerId: string;
  metric: number;
  refmetric: number;
  via: string;
  ifName: string;
}

export interface BabelXroute {
  id: string;
  prefix: string;
  from: string;
  metric: number;
}

export type BabelEvent =
  | { kind: 'banner'; protocol: string }
  | { kind: 'version'; version: string }
  | { kind: 'host'; host: string }
  | { kind: 'my-id'; id: string }
  | { kind: 'ok' }
  | { kind: 'no'; text: string }
  | { kind: 'bad'; text: string }
  | { kind: 'interface'; action: BabelAction; interface: BabelInterface }
  | { kind: 'neighbour'; action: BabelAction; neighbour: BabelNeighbour }
  | { kind: 'route'; action: BabelAction; route: BabelRoute }
  | { kind: 'xroute'; action: BabelAction; xroute: BabelXroute }
  /** Not from babeld: the client emits it when a monitor (re)connects, before the replay. */
  | { kind: 'reset' }
  | { kind: 'unknown'; line: string; reason: string };

/** `key value` pairs after the object id; an odd trailing token is ignored. */
function pairs(tokens: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < tokens.length; i += 2) out.set(tokens[i]!, tokens[i + 1]!);
  return out;
}

function int(v: string | undefined, radix = 10): number | undefined {
  if (v === undefined) return undefined;
  if (radix === 16 ? !/^[0-9a-fA-F]{1,8}$/.test(v) : !/^\d{1,10}$/.test(v)) return undefined;
  return parseInt(v, radix);
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

function bool(v: string | undefined): boolean | undefined {
  return v === 'true' || v === 'yes' ? true : v === 'false' || v === 'no' ? false : undefined;
}

export function parseBabelLine(rawLine: string): BabelEvent {
  const line = rawLine.replace(/\r?\n$/, '');
  const tokens = line.trim().split(/\s+/).filter((t) => t !== '');
  const unknown = (reason: string): BabelEvent => ({ kind: 'unknown', line, reason });
  const [first, second, third, ...rest] = tokens;
  if (first === undefined) return unknown('empty line');
  switch (first) {
    case 'ok':
      return { kind: 'ok' };
    case 'no':
      return { kind: 'no', text: tokens.slice(1).join(' ') };
    case 'bad':
      return { kind: 'bad', text: tokens.slice(1).join(' ') };
    case 'BABEL':
      return second ? { kind: 'banner', protocol: second } : unknown('banner without protocol version');
    case 'version':
      return second ? { kind: 'version', version: second } : unknown('version without value');
    case 'host':
      return second ? { kind: 'host', host: tokens.slice(1).join(' ') } : unknown('host without value');
    case 'my-id':
      return second ? { kind: 'my-id', id: second } : unknown('my-id without value');
    case 'add':
    case 'change':
    case 'flush':
      break;
    default:
      return unknown(`unknown verb ${first}`);
  }
  const action = first as BabelAction;
  if (second === undefined || third === undefined) return unknown('object kind or id missing');
  const kv = pairs(rest);
  switch (second) {
    case 'interface': {
      const up = bool(kv.get('up'));
      if (up === undefined) return unknown('interface without up true|false');
      const itf: BabelInterface = { name: third, up };
      const ipv6 = kv.get('ipv6');
      const ipv4 = kv.get('ipv4');
      if (ipv6 !== undefined) itf.ipv6 = ipv6;
      if (ipv4 !== undefined) itf.ipv4 = ipv4;
      return { kind: 'interface', action, interface: itf };
    }
    case 'neighbour': {
      const address = kv.get('address');
      const ifName = kv.get('if');
      const reach = int(kv.get('reach'), 16);
      const ureach = int(kv.get('ureach'), 16) ?? 0;
      const rxcost = int(kv.get('rxcost'));
      const txcost = int(kv.get('txcost'));
      const cost = int(kv.get('cost'));
      if (address === undefined || ifName === undefined || reach === undefined || rxcost === undefined || txcost === undefined || cost === undefined) {
        return unknown('neighbour with missing or malformed fields');
      }
      const neighbour: BabelNeighbour = { id: third, address, ifName, reach, ureach, rxcost, txcost, cost };
      const rtt = num(kv.get('rtt'));
      const rttCost = int(kv.get('rttcost'));
      if (rtt !== undefined) neighbour.rttMs = rtt;
      if (rttCost !== undefined) neighbour.rttCost = rttCost;
      return { kind: 'neighbour', action, neighbour };
    }
    case 'route': {
      const prefix = kv.get('prefix');
      const from = kv.get('from') ?? '::/0';
      const installed = bool(kv.get('installed'));
      const routerId = kv.get('id');
      const metric = int(kv.get('metric'));
      const refmetric = int(kv.get('refmetric'));
      const via = kv.get('via');
      const ifName = kv.get('if');
      if (prefix === undefined || installed === undefined || routerId === undefined || metric === undefined || via === undefined || ifName === undefined) {
        return unknown('route with missing or malformed fields');
      }
      return { kind: 'route', action, route: { id: third, prefix, from, installed, routerId, metric, refmetric: refmetric ?? 0, via, ifName } };
    }
    case 'xroute': {
      const prefix = kv.get('prefix');
      const metric = int(kv.get('metric'));
      if (prefix === undefined || metric === undefined) return unknown('xroute with missing or malformed fields');
      return { kind: 'xroute', action, xroute: { id: third, prefix, from: kv.get('from') ?? '::/0', metric } };
    }
    default:
      return unknown(`unknown object ${second}`);
  }
}

/** True for the line that ends a reply (ok, no, bad). */
export function isReplyEnd(ev: BabelEvent): ev is Extract<BabelEvent, { kind: 'ok' | 'no' | 'bad' }> {
  return ev.kind === 'ok' || ev.kind === 'no' || ev.kind === 'bad';
}

/** True for the raw text of a line that ends a reply, without parsing it (a reply's other lines start with add/change/flush). */
export function isReplyEndLine(rawLine: string): boolean {
  return /^\s*(ok|no|bad)(\s|$)/.test(rawLine);
}
