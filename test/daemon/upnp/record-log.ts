// A pino-shaped logger that records what was logged, for assertions.
import type { Logger } from 'pino';

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export function recordLog(): { log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at =
    (level: LogRecord['level']) =>
    (...args: unknown[]): void => {
      const [fields, msg] = args;
      records.push({ level, msg: typeof msg === 'string' ? msg : String(fields), fields: typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : {} });
    };
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, records };
}
