// How starved the host's CPUs are, from the kernel's pressure stall information:
// "some avg10" of /proc/pressure/cpu is the share of the last 10 s in which at
// least one runnable task waited for a CPU. The daemon's timer lateness sees only
// its own event loop; a link hello also waits in two openvpn processes, which
// starve alike, so a link check on a saturated host reads this too.
import { ProcFile } from './proc-file.js';
import type { Clock } from './clock.js';

/** "some avg10" in percent from the text of /proc/pressure/cpu; undefined when absent or malformed. Pure. */
export function parseCpuPressure(text: string): number | undefined {
  const m = /^some\s+avg10=(\d+(?:\.\d+)?)\s/m.exec(text);
  if (!m) return undefined;
  const pct = Number(m[1]);
  return Number.isFinite(pct) && pct >= 0 && pct <= 100 ? pct : undefined;
}

/** One descriptor for the process (proc-file.ts): the pressure is read about once a second. */
let cpuPressureFile: ProcFile | undefined;

/** The text of /proc/pressure/cpu now; throws when it cannot be read (no PSI in this kernel). */
function readCpuPressureText(): string {
  cpuPressureFile ??= new ProcFile('/proc/pressure/cpu', 1024);
  return cpuPressureFile.read();
}

/** "some avg10" in percent now, uncached (undefined when malformed); throws when the file cannot be read. */
export function readCpuPressurePct(): number | undefined {
  return parseCpuPressure(readCpuPressureText());
}

/** What the link check reads. */
export interface CpuPressureSource {
  /** "some avg10", percent; 0 when the kernel does not report it. */
  someAvg10Pct(): number;
}

export interface CpuPressureOptions {
  clock: Pick<Clock, 'nowMs'>;
  /** Reads the pressure file (default: /proc/pressure/cpu); throws when it cannot. */
  read?: () => string;
  /** A reading is reused this long (the kernel averages over 10 s anyway). */
  cacheMs?: number;
}

/** Reads /proc/pressure/cpu at most once per cacheMs. A kernel without PSI counts as no pressure. */
export class CpuPressure implements CpuPressureSource {
  private readonly read: () => string;
  private readonly cacheMs: number;
  private value = 0;
  private readAtMs = -Infinity;
  private unavailable = false;

  constructor(private readonly options: CpuPressureOptions) {
    this.read = options.read ?? readCpuPressureText;
    this.cacheMs = options.cacheMs ?? 1_000;
  }

  someAvg10Pct(): number {
    if (this.unavailable) return 0;
    const nowMs = this.options.clock.nowMs();
    if (nowMs - this.readAtMs < this.cacheMs) return this.value;
    this.readAtMs = nowMs;
    try {
      this.value = parseCpuPressure(this.read()) ?? 0;
    } catch {
      // No PSI in this kernel (CONFIG_PSI off, or psi=0): timer lateness alone decides.
      this.unavailable = true;
      this.value = 0;
    }
    return this.value;
  }
}
