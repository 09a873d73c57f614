// The `[metrics] listen` address of the node and of the registry: an IP literal
// and a port ("127.0.0.1:9327", "[::1]:9327"), or "" for no endpoint. Names are
// refused: a metrics endpoint bound to whatever a name resolves to at start could
// end up on a public address without anyone having written one.
import { isIP } from 'node:net';
import * as z from 'zod';
import { ConfigError } from './errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Why `text` is no usable listen address, or undefined when it is one ("" = off). */
export function metricsListenProblem(text: string): string | undefined {
  if (text === '') return undefined;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return `"${text}" is not HOST:PORT: write an IP and a port, e.g. "127.0.0.1:9327" or "[::1]:9327", or "" to turn metrics off`;
  const [, host, portText] = m as unknown as [string, string, string];
  const bracketed = text.startsWith('[');
  const family = isIP(host);
  if (family === 0) return `"${host}" is not an IP address: metrics listen on an IP literal (e.g. 127.0.0.1), not a name`;
  if (family === 4 && bracketed) return `"${text}": only IPv6 addresses go in brackets`;
  if (family === 6 && !bracketed) return `"${text}": put an IPv6 address in brackets, e.g. "[::1]:9327"`;
  const port = Number(portText);
  if (port > 65535) return `port ${port} in "${text}" is above 65535`;
  return undefined;
}

/** The address to bind, or null when metrics are off. Throws with the problem on a bad address. */
export function parseMetricsListen(text: string): ListenAddress | null {
  const problem = metricsListenProblem(text);
  if (problem) throw new ConfigError(`metrics.listen invalid: ${problem}`);
  if (text === '') return null;
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) };
}

/** "HOST:PORT" again, IPv6 in brackets (for messages and URLs). */
export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The zod field of both config files: validated when the file is read (start and reload). */
export function metricsListenField(defaultListen: string) {
  return z
    .string()
    .default(defaultListen)
    .superRefine((text, ctx) => {
      const problem = metricsListenProblem(text);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** Where a `[metrics]` section asks to listen; null when it is turned off (enabled = false or listen = ""). */
export function metricsAddress(section: { enabled?: boolean; listen: string }): ListenAddress | null {
  return section.enabled === false ? null : parseMetricsListen(section.listen);
}
