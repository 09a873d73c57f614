// Reassembly of a network config sent as chunks. One assembly per (sender,
// version); incomplete ones expire, and only a few run at once, so a peer cannot
// make us hold much memory. Time comes in as a parameter.
import type { ConfigChunkMessage } from '../../wire/messages.js';

export interface ConfigAssemblerOptions {
  timeoutMs: number;
  maxAssemblies: number;
}

interface Assembly {
  startedMs: number;
  count: number;
  parts: (Buffer | undefined)[];
  received: number;
}

export class ConfigAssembler {
  private readonly assemblies = new Map<string, Assembly>();

  constructor(private readonly options: ConfigAssemblerOptions) {}

  /** Adds a chunk; returns the whole config once its last missing chunk arrives. */
  add(sender: string, chunk: ConfigChunkMessage, nowMs: number): { version: number; bytes: Buffer } | undefined {
    this.expire(nowMs);
    const key = `${sender} ${chunk.version}`;
    let a = this.assemblies.get(key);
    if (a !== undefined && a.count !== chunk.count) {
      this.assemblies.delete(key); // the sender re-chunked: start over
      a = undefined;
    }
    if (a === undefined) {
      if (this.assemblies.size >= this.options.maxAssemblies) {
        const oldest = this.assemblies.keys().next().value;
        if (oldest !== undefined) this.assemblies.delete(oldest);
      }
      a = { startedMs: nowMs, count: chunk.count, parts: new Array<Buffer | undefined>(chunk.count).fill(undefined), received: 0 };
      this.assemblies.set(key, a);
    }
    if (a.parts[chunk.index] === undefined) {
      a.parts[chunk.index] = chunk.bytes;
      a.received++;
    }
    if (a.received < a.count) return undefined;
    this.assemblies.delete(key);
    return { version: chunk.version, bytes: Buffer.concat(a.parts as Buffer[]) };
  }

  pending(): number {
    return this.assemblies.size;
  }

  private expire(nowMs: number): void {
    for (const [key, a] of this.assemblies) {
      if (nowMs - a.startedMs > this.options.timeoutMs) this.assemblies.delete(key);
    }
  }
}
