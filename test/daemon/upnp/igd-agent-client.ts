// The test-process side of igd-agent.ts: a PortMapper whose calls run in the
// agent inside a namespace. Errors come back as UpnpError with the same code.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  UpnpError,
  type GatewayInfo,
  type PortMapper,
  type PortMapping,
  type PortProtocol,
  type UpnpErrorCode,
} from '../../../daemon/upnp/port-mapper.js';
import type { ExternalAddress, UpnpMappingsOptions, UpnpStatus } from '../../../daemon/upnp/mapper.js';
import type { HealthItem } from '../../../daemon/health/health.js';

interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: { name: string; message: string; code?: string; details?: Record<string, unknown> };
  event?: string;
}

export class AgentClient implements PortMapper {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  readonly addresses: (ExternalAddress | null)[] = [];
  readonly ready: Promise<void>;
  stderr = '';

  constructor(private readonly child: ChildProcess) {
    let markReady!: () => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${this.stderr}`)));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        return;
      }
      if (reply.event === 'ready') markReady();
      if (reply.event === 'external-address') this.addresses.push(reply.value as ExternalAddress | null);
      if (reply.id === undefined) return;
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (!p) return;
      if (reply.ok) p.resolve(reply.value);
      else if (reply.error?.code?.startsWith('RN_UPNP_')) {
        p.reject(new UpnpError(reply.error.code as UpnpErrorCode, reply.error.message, reply.error.details ? { details: reply.error.details } : {}));
      } else p.reject(Object.assign(new Error(reply.error?.message ?? 'agent error'), { name: reply.error?.name }));
    });
    child.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`agent exited: ${this.stderr}`));
      this.pending.clear();
    });
  }

  call<T>(op: string, args: unknown[] = [], signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        this.send({ id: this.nextId++, op: 'cancel', args: [id] });
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as T);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      this.send({ id, op, args });
    });
  }

  private send(obj: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(obj)}\n`);
  }

  discover({ signal }: { signal: AbortSignal }): Promise<GatewayInfo> {
    return this.call('discover', [], signal);
  }
  externalIp({ signal }: { signal: AbortSignal }): Promise<string> {
    return this.call('externalIp', [], signal);
  }
  map(internalPort: number, protocol: PortProtocol, leaseSec: number, { signal }: { signal: AbortSignal }): Promise<PortMapping> {
    return this.call('map', [internalPort, protocol, leaseSec], signal);
  }
  async unmap(port: number, protocol: PortProtocol, { signal }: { signal: AbortSignal }): Promise<void> {
    await this.call('unmap', [port, protocol], signal);
  }
  mappingsStart(options: UpnpMappingsOptions): Promise<UpnpStatus> {
    return this.call('mappingsStart', [options]);
  }
  mappingsStatus(): Promise<UpnpStatus | null> {
    return this.call('mappingsStatus');
  }
  mappingsStop(): Promise<void> {
    return this.call('mappingsStop');
  }
  health(): Promise<HealthItem[]> {
    return this.call('health');
  }

  /** Closes stdin (the agent stops its mappings and exits) and waits for the exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin?.end();
    await exited;
  }
}
