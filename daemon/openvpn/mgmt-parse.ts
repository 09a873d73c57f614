// OpenVPN 2.6 management-interface lines → typed values. Pure and total: a line
// never makes these functions throw. Formats: REPORT.md §6 (netlab) and
// test/fixtures/openvpn-mgmt-*.txt.

export type MgmtLine =
  /** `>INFO:OpenVPN Management Interface Version 5 …` (the banner) and other >INFO. */
  | { kind: 'info'; text: string }
  | { kind: 'state'; state: MgmtState }
  | { kind: 'bytecount'; rxBytes: number; txBytes: number }
  | { kind: 'log'; timeSec: number; flags: string; message: string }
  | { kind: 'hold'; text: string }
  | { kind: 'fatal'; text: string }
  /** Any other `>NAME:text` notification (NEED-OK, PASSWORD, …). */
  | { kind: 'notification'; name: string; text: string }
  | { kind: 'success'; text: string }
  | { kind: 'error'; text: string }
  | { kind: 'end' }
  /** A line of a multi-line reply (state history, status block, help …). */
  | { kind: 'data'; text: string };

export interface MgmtState {
  timeSec: number;
  /** CONNECTING, WAIT, AUTH, GET_CONFIG, ASSIGN_IP, ADD_ROUTES, CONNECTED, RECONNECTING, EXITING, … */
  name: string;
  /** e.g. SUCCESS, SIGUSR1, SIGTERM, or ''. */
  description: string;
  localTunIp: string;
  remoteIp: string;
  remotePort: string;
  localIp: string;
  localPort: string;
}

/** Parses the comma list of a >STATE line or a `state` reply line; undefined when malformed. */
export function parseStateFields(text: string): MgmtState | undefined {
  const f = text.split(',');
  const timeText = f[0] ?? '';
  const name = f[1] ?? '';
  if (!/^\d+$/.test(timeText) || !/^[A-Z_]+$/.test(name)) return undefined;
  return {
    timeSec: Number(timeText),
    name,
    description: f[2] ?? '',
    localTunIp: f[3] ?? '',
    remoteIp: f[4] ?? '',
    remotePort: f[5] ?? '',
    localIp: f[6] ?? '',
    localPort: f[7] ?? '',
  };
}

function notification(name: string, text: string): MgmtLine {
  switch (name) {
    case 'INFO':
      return { kind: 'info', text };
    case 'STATE': {
      const state = parseStateFields(text);
      return state ? { kind: 'state', state } : { kind: 'notification', name, text };
    }
    case 'BYTECOUNT': {
      const m = /^(\d+),(\d+)$/.exec(text);
      return m ? { kind: 'bytecount', rxBytes: Number(m[1]), txBytes: Number(m[2]) } : { kind: 'notification', name, text };
    }
    case 'LOG': {
      const m = /^(\d+),([A-Z]*),(.*)$/s.exec(text);
      return m ? { kind: 'log', timeSec: Number(m[1]), flags: m[2] ?? '', message: m[3] ?? '' } : { kind: 'notification', name, text };
    }
    case 'HOLD':
      return { kind: 'hold', text };
    case 'FATAL':
      return { kind: 'fatal', text };
    default:
      return { kind: 'notification', name, text };
  }
}

export function parseMgmtLine(rawLine: string): MgmtLine {
  const line = rawLine.replace(/\r?\n$/, '').replace(/\r$/, '');
  if (line.startsWith('>')) {
    const m = /^>([A-Z0-9_-]+):(.*)$/s.exec(line);
    if (m) return notification(m[1]!, m[2]!);
    return { kind: 'notification', name: '', text: line.slice(1) };
  }
  if (line.startsWith('SUCCESS:')) return { kind: 'success', text: line.slice(8).trim() };
  if (line.startsWith('ERROR:')) return { kind: 'error', text: line.slice(6).trim() };
  if (line === 'END') return { kind: 'end' };
  return { kind: 'data', text: line };
}

/** True for an asynchronous notification (a line starting with '>'), which never belongs to a reply. */
export function isNotification(l: MgmtLine): boolean {
  return l.kind !== 'success' && l.kind !== 'error' && l.kind !== 'end' && l.kind !== 'data';
}

export type MgmtReply =
  | { kind: 'success'; text: string }
  | { kind: 'error'; text: string }
  | { kind: 'lines'; lines: string[] };

/**
 * Frames replies: feed the non-notification lines of a session in order; returns a
 * reply when one is complete (SUCCESS:/ERROR: line, or data lines up to END).
 */
export class MgmtReplyFramer {
  private lines: string[] = [];

  push(l: MgmtLine): MgmtReply | undefined {
    switch (l.kind) {
      case 'success':
      case 'error':
        if (this.lines.length > 0) {
          // A SUCCESS/ERROR inside a multi-line reply is data, not the end.
          this.lines.push(`${l.kind === 'success' ? 'SUCCESS' : 'ERROR'}: ${l.text}`);
          return undefined;
        }
        return { kind: l.kind, text: l.text };
      case 'end': {
        const reply: MgmtReply = { kind: 'lines', lines: this.lines };
        this.lines = [];
        return reply;
      }
      case 'data':
        this.lines.push(l.text);
        return undefined;
      default:
        return undefined;
    }
  }
}

export interface MgmtStatus {
  tunTapReadBytes?: number;
  tunTapWriteBytes?: number;
  linkReadBytes?: number;
  linkWriteBytes?: number;
  authReadBytes?: number;
  updated?: string;
}

/** The p2p `status` block (also the --status file): `OpenVPN STATISTICS`, `Key,value` lines. */
export function parseStatusBlock(lines: string[]): MgmtStatus {
  const out: MgmtStatus = {};
  for (const line of lines) {
    const comma = line.indexOf(',');
    if (comma < 0) continue;
    const key = line.slice(0, comma);
    const value = line.slice(comma + 1);
    const n = /^\d+$/.test(value) ? Number(value) : undefined;
    switch (key) {
      case 'Updated':
        out.updated = value;
        break;
      case 'TUN/TAP read bytes':
        if (n !== undefined) out.tunTapReadBytes = n;
        break;
      case 'TUN/TAP write bytes':
        if (n !== undefined) out.tunTapWriteBytes = n;
        break;
      case 'TCP/UDP read bytes':
        if (n !== undefined) out.linkReadBytes = n;
        break;
      case 'TCP/UDP write bytes':
        if (n !== undefined) out.linkWriteBytes = n;
        break;
      case 'Auth read bytes':
        if (n !== undefined) out.authReadBytes = n;
        break;
      default:
        break;
    }
  }
  return out;
}

/** `SUCCESS: pid=10039` text → 10039. */
export function parsePidReply(text: string): number | undefined {
  const m = /^pid=(\d+)$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** `SUCCESS: nclients=0,bytesin=3007,bytesout=3106` text → numbers. */
export function parseLoadStats(text: string): { nclients: number; bytesIn: number; bytesOut: number } | undefined {
  const m = /^nclients=(\d+),bytesin=(\d+),bytesout=(\d+)$/.exec(text.trim());
  return m ? { nclients: Number(m[1]), bytesIn: Number(m[2]), bytesOut: Number(m[3]) } : undefined;
}
