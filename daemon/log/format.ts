// Turns one pino JSON record into the line a reader wants: on a terminal a short
// human line (time, level, component, message, key=value fields, colour by
// level); under journald the same without the time (journald stamps it) and
// prefixed `<N>` with the syslog priority, which `SyslogLevelPrefix=true` (the
// default) turns into the journal's PRIORITY. Always one line: journald takes a
// newline for the start of a new message at the default priority. Pure.

export type LogFormat = 'json' | 'pretty' | 'journal';

/** pino's numeric levels → syslog priorities (debug 7, info 6, warning 4, err 3, crit 2). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

function levelName(level: number): string {
  if (level >= 60) return 'FATAL';
  if (level >= 50) return 'ERROR';
  if (level >= 40) return 'WARN';
  if (level >= 30) return 'INFO';
  if (level >= 20) return 'DEBUG';
  return 'TRACE';
}

const COLOURS: Record<string, string> = { FATAL: '\x1b[35m', ERROR: '\x1b[31m', WARN: '\x1b[33m', INFO: '\x1b[32m', DEBUG: '\x1b[90m', TRACE: '\x1b[90m' };
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** Keys shown elsewhere on the line, or noise for a reader (`pid` too when it is the daemon's own). */
const HIDDEN = new Set(['level', 'time', 'hostname', 'msg', 'component']);

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}

/** A field's value: bare when it is one plain word, else JSON (quoted, escaped). An error shows its message and code. */
export function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    const e = value as { message: string; code?: unknown };
    return JSON.stringify(typeof e.code === 'string' ? `${e.message} [${e.code}]` : e.message);
  }
  return JSON.stringify(value) ?? String(value);
}

export interface FormatOptions {
  colour?: boolean;
  /** The logging process's pid (default process.pid): not repeated on every line; a child's pid is shown. */
  ownPid?: number;
}

/** The record as text, or undefined when it is not a pino record (then the caller writes it as it came). */
export function formatRecord(record: Record<string, unknown>, format: Exclude<LogFormat, 'json'>, options: FormatOptions = {}): string | undefined {
  const level = record.level;
  if (typeof level !== 'number') return undefined;
  const component = typeof record.component === 'string' ? `${record.component}: ` : '';
  const fields = Object.entries(record)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined && !(k === 'pid' && v === (options.ownPid ?? process.pid)))
    .map(([k, v]) => `${k}=${fieldValue(v)}`)
    .join(' ');
  const msg = oneLine(typeof record.msg === 'string' ? record.msg : '');
  const text = `${component}${msg}${fields ? ` ${fields}` : ''}`;
  if (format === 'journal') return `<${syslogPriority(level)}>${text}`;
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const name = levelName(level).padEnd(5);
  if (!options.colour) return `${time} ${name} ${text}`;
  return `${DIM}${time}${RESET} ${COLOURS[levelName(level)]}${name}${RESET} ${component}${msg}${fields ? ` ${DIM}${fields}${RESET}` : ''}`;
}

/** Formats one chunk pino wrote (one JSON line); anything else passes through unchanged. */
export function formatLine(chunk: string, format: LogFormat, options: FormatOptions = {}): string {
  if (format === 'json') return chunk;
  let record: unknown;
  try {
    record = JSON.parse(chunk);
  } catch {
    return chunk;
  }
  if (record === null || typeof record !== 'object') return chunk;
  const text = formatRecord(record as Record<string, unknown>, format, options);
  return text === undefined ? chunk : `${text}\n`;
}
