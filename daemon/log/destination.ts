// Where the daemon's log goes and in which form. journald sets JOURNAL_STREAM to
// the device:inode of the stream it connected to stdout/stderr; when stdout is
// that stream the lines carry syslog priorities. A terminal gets human lines;
// anything else (a file, a pipe, the lab's daemon.log) gets pino's JSON, one
// record a line. RESILNET_LOG_FORMAT=json|pretty|journal overrides the choice.
import { fstatSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import { formatLine, type LogFormat } from './format.js';

export interface LogStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  fd?: number;
}

const FORMATS: readonly LogFormat[] = ['json', 'pretty', 'journal'];

/** device:inode of an open file descriptor, as journald writes them into JOURNAL_STREAM; undefined when unknown. */
export type StreamIdentity = (fd: number) => string | undefined;

export const fstatIdentity: StreamIdentity = (fd) => {
  try {
    const st = fstatSync(fd);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
};

export function chooseLogFormat(env: NodeJS.ProcessEnv, stream: LogStream, identity: StreamIdentity = fstatIdentity): LogFormat {
  const forced = env.RESILNET_LOG_FORMAT;
  if (forced !== undefined && forced !== '') {
    if (!(FORMATS as readonly string[]).includes(forced)) {
      throw new ConfigError(`RESILNET_LOG_FORMAT=${forced} is not a log format. Use one of ${FORMATS.join(', ')}, or unset it to choose by where the log goes.`);
    }
    return forced as LogFormat;
  }
  if (env.JOURNAL_STREAM && stream.fd !== undefined && identity(stream.fd) === env.JOURNAL_STREAM) return 'journal';
  if (stream.isTTY) return 'pretty';
  return 'json';
}

/** A pino destination writing `format` lines to `stream` (colour on a terminal unless NO_COLOR is set). */
export function logDestination(format: LogFormat, stream: LogStream, env: NodeJS.ProcessEnv): { write(chunk: string): void } {
  const colour = format === 'pretty' && stream.isTTY === true && !env.NO_COLOR;
  return { write: (chunk) => void stream.write(formatLine(chunk, format, { colour })) };
}
