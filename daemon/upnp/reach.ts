// Is a UPnP mapping really reachable? A router can accept a mapping and still
// drop what arrives on it (a firewall in front of the forward, a second NAT), and
// an announced endpoint that nobody can reach costs every peer that dials it a
// timed-out tunnel attempt. So before the node announces its mapped endpoint, a
// live peer sends a probe to it: a peer-protocol frame carrying a random nonce
// that only we and that peer know (it travels in the request over the overlay).
// Only when the nonce comes back through the mapping is the endpoint announced.
//
// This file is the procedure, on an injected clock, with the I/O (asking a peer)
// injected; reach-node.ts wires it to the peer protocol. One round:
//   - pick a candidate peer not asked yet this round, ask it with a fresh nonce;
//   - it answers "sent" and the nonce arrives within arrivalTimeoutMs: verified;
//   - it answers "sent" and nothing arrives: one failed probe; next peer;
//   - it refuses or does not answer: it could not help (not evidence); next peer.
// A peer may be a candidate twice (over the overlay and over the underlay: only
// the second path shows it our external address, see reach-rules.ts).
// After `peersPerRound` failed probes (or every candidate asked, at least one
// failed), the mapping is unreachable: asked again later, with a doubling,
// jittered, capped delay. No candidate at all is not a failure: look again soon.
// A verified mapping is checked again every recheckMs (jittered): a router can
// start dropping a forward it once delivered (a firewall change, a reboot into
// another configuration). The re-check runs quietly (the mapping stays verified
// and announced meanwhile); only a round whose probes failed makes it
// unreachable, which withdraws it and starts the retry backoff from the start.
import type { Clock } from '../sys/clock.js';
import type { ReachOutcome } from '../../wire/messages.js';

export interface ReachCandidate {
  /** The peer's prefix (who verified it, in words and status). */
  prefix: string;
  /** Tells apart two ways to ask one peer (overlay, underlay); default: the prefix. */
  key?: string;
}

const keyOf = (c: ReachCandidate): string => c.key ?? c.prefix;

export interface ReachTimings {
  /** After a peer said "sent", how long the probe may take to arrive. Generous: a busy peer or router is slow, not broken. */
  arrivalTimeoutMs: number;
  /** Failed probes (sent, never arrived) from distinct peers before the mapping is called unreachable. */
  peersPerRound: number;
  /** No peer to ask yet: look again after this. */
  noPeerRetryMs: number;
  /** Unreachable: check again after this, doubled per failed round up to retryMaxMs, ±20 %. */
  retryMinMs: number;
  retryMaxMs: number;
  /** A verified mapping is checked again after this, ±20 %. */
  recheckMs: number;
}

export const DEFAULT_REACH_TIMINGS: ReachTimings = {
  arrivalTimeoutMs: 15_000,
  peersPerRound: 3,
  noPeerRetryMs: 10_000,
  retryMinMs: 60_000,
  retryMaxMs: 30 * 60_000,
  recheckMs: 30 * 60_000,
};

/** What one asked peer did. */
export interface ReachAttempt {
  peer: string;
  /** 'arrived', 'not-arrived' (the peer sent it, nothing came), a refusal, or 'no-reply'. */
  result: 'arrived' | 'not-arrived' | 'no-reply' | Exclude<ReachOutcome, 'sent'>;
}

export type ReachStatus =
  | { state: 'idle' }
  | { state: 'waiting'; endpoint: string; why: string }
  | { state: 'probing'; endpoint: string; peer: string; sinceMs: number }
  /** `confirmations`: re-checks passed since it was first verified (0: this is the first verification). */
  | { state: 'verified'; endpoint: string; by: string; atMs: number; tookMs: number; confirmations: number; nextCheckAtMs: number }
  /** `verifiedAtMs`: when this endpoint was last verified, if it ever was (it failed a re-check since). */
  | { state: 'unreachable'; endpoint: string; attempts: ReachAttempt[]; failedRounds: number; nextCheckAtMs: number; verifiedAtMs?: number };

export interface ReachVerifierDeps<C extends ReachCandidate> {
  clock: Clock;
  /** In [0, 1): jitter of the retry delay. */
  random: () => number;
  /** A fresh random nonce for each probe. */
  nonce: () => Buffer;
  /** Live peers that may be asked, best first. */
  candidates: () => readonly C[];
  /** Asks one peer to probe `endpoint` with `nonce`; rejects when it does not answer. */
  ask: (peer: C, endpoint: string, nonce: Buffer, signal: AbortSignal) => Promise<ReachOutcome>;
  /** Every state change (announce on 'verified', withdraw otherwise). */
  onStatus: (status: ReachStatus) => void;
  timings?: ReachTimings;
}

export class ReachVerifier<C extends ReachCandidate> {
  private readonly timings: ReachTimings;
  private current: ReachStatus = { state: 'idle' };
  private run: AbortController | undefined;
  /** The probe we wait for: its nonce and what to call when it comes. */
  private awaited: { nonce: Buffer; arrived: () => void } | undefined;
  private failedRounds = 0;
  /** When the endpoint being checked was last verified (a failed re-check says so until it passes again). */
  private verifiedAtMs: number | undefined;

  constructor(private readonly deps: ReachVerifierDeps<C>) {
    this.timings = deps.timings ?? DEFAULT_REACH_TIMINGS;
  }

  status(): ReachStatus {
    return this.current;
  }

  /**
   * The endpoint to verify ("IP:PORT"), or undefined when there is no mapping. The
   * same endpoint again changes nothing (a lease renewal keeps a verified one);
   * another one starts over.
   */
  check(endpoint: string | undefined): void {
    const now = this.current.state === 'idle' ? undefined : this.current.endpoint;
    if (endpoint === now) return;
    this.cancel();
    this.failedRounds = 0;
    this.verifiedAtMs = undefined;
    if (endpoint === undefined) return this.set({ state: 'idle' });
    this.start(endpoint);
  }

  /** A reach-probe came in on the peer-protocol socket; true when it was the one awaited. */
  probeArrived(nonce: Buffer): boolean {
    const a = this.awaited;
    if (a === undefined || !a.nonce.equals(nonce)) return false;
    this.awaited = undefined;
    a.arrived();
    return true;
  }

  stop(): void {
    this.cancel();
    this.set({ state: 'idle' });
  }

  private cancel(): void {
    this.run?.abort(new Error('reach check cancelled'));
    this.run = undefined;
    this.awaited = undefined;
  }

  private start(endpoint: string): void {
    const run = new AbortController();
    this.run = run;
    this.loop(endpoint, run.signal).catch(() => {
      // Only cancellation ends the loop early; the next check() or stop() owns the state.
    });
  }

  private async loop(endpoint: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      const was = this.current.state === 'verified' && this.current.endpoint === endpoint ? this.current : undefined;
      const verdict = await this.round(endpoint, signal, was !== undefined);
      const nowMs = this.deps.clock.nowMs();
      if (!Array.isArray(verdict)) {
        this.failedRounds = 0;
        const delayMs = this.jittered(this.timings.recheckMs);
        const confirmations = was ? was.confirmations + 1 : 0;
        this.verifiedAtMs = nowMs;
        this.set({ state: 'verified', endpoint, by: verdict.by, atMs: nowMs, tookMs: verdict.tookMs, confirmations, nextCheckAtMs: nowMs + delayMs });
        await this.deps.clock.sleep(delayMs, { signal });
        continue;
      }
      this.failedRounds++;
      const delayMs = this.jittered(Math.min(this.timings.retryMaxMs, this.timings.retryMinMs * 2 ** Math.min(this.failedRounds - 1, 20)));
      const lost = this.verifiedAtMs === undefined ? {} : { verifiedAtMs: this.verifiedAtMs };
      this.set({ state: 'unreachable', endpoint, attempts: verdict, failedRounds: this.failedRounds, nextCheckAtMs: nowMs + delayMs, ...lost });
      await this.deps.clock.sleep(delayMs, { signal });
    }
  }

  /** `ms` ±20 %. */
  private jittered(ms: number): number {
    return Math.round(ms * (0.8 + 0.4 * this.deps.random()));
  }

  /**
   * One round: the peer whose probe arrived, or the attempts that ended it without. `quiet`
   * (a re-check of a verified mapping): no 'waiting' or 'probing' status, so it stays announced.
   */
  private async round(endpoint: string, signal: AbortSignal, quiet: boolean): Promise<{ by: string; tookMs: number } | ReachAttempt[]> {
    const attempts: ReachAttempt[] = [];
    const asked = new Set<string>();
    let failed = 0;
    while (failed < this.timings.peersPerRound) {
      const peer = this.deps.candidates().find((c) => !asked.has(keyOf(c)));
      if (peer === undefined) {
        if (failed > 0) break;
        // Nobody could help (no peer yet, or all refused): not evidence against the mapping.
        const why = attempts.length === 0 ? 'no live peer to probe it yet' : `no peer could probe it (${describeAttempts(attempts)})`;
        if (!quiet) this.set({ state: 'waiting', endpoint, why });
        await this.deps.clock.sleep(this.timings.noPeerRetryMs, { signal });
        asked.clear();
        attempts.length = 0;
        continue;
      }
      asked.add(keyOf(peer));
      const sinceMs = this.deps.clock.nowMs();
      if (!quiet) this.set({ state: 'probing', endpoint, peer: peer.prefix, sinceMs });
      const result = await this.probe(peer, endpoint, signal);
      attempts.push({ peer: peer.prefix, result });
      if (result === 'arrived') return { by: peer.prefix, tookMs: this.deps.clock.nowMs() - sinceMs };
      if (result === 'not-arrived') failed++;
    }
    return attempts;
  }

  private async probe(peer: C, endpoint: string, signal: AbortSignal): Promise<ReachAttempt['result']> {
    const nonce = this.deps.nonce();
    let arrived = false;
    let wake: () => void = () => {};
    // Waiting starts before the request: the probe is sent before the peer's answer and may overtake it.
    this.awaited = {
      nonce,
      arrived: () => {
        arrived = true;
        wake();
      },
    };
    let outcome: ReachOutcome;
    try {
      outcome = await this.deps.ask(peer, endpoint, nonce, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      if (arrived) return 'arrived';
      this.awaited = undefined;
      return 'no-reply';
    }
    if (arrived) return 'arrived';
    if (outcome !== 'sent') {
      this.awaited = undefined;
      return outcome;
    }
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const timeout = new AbortController();
    const cancelTimer = this.deps.clock.setTimeout(() => timeout.abort(), this.timings.arrivalTimeoutMs);
    const onAbort = (): void => wake();
    timeout.signal.addEventListener('abort', onAbort);
    signal.addEventListener('abort', onAbort);
    try {
      await woken;
    } finally {
      cancelTimer();
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw signal.reason;
    if (this.awaited?.nonce === nonce) this.awaited = undefined;
    return arrived ? 'arrived' : 'not-arrived';
  }

  private set(status: ReachStatus): void {
    this.current = status;
    this.deps.onStatus(status);
  }
}

/** "fd5e:…::/64 sent it, nothing arrived; fd5e:…::/64 refused (rate-limited)" */
export function describeAttempts(attempts: readonly ReachAttempt[]): string {
  return attempts
    .map((a) => {
      switch (a.result) {
        case 'arrived': return `${a.peer}'s probe arrived`;
        case 'not-arrived': return `${a.peer} sent a probe, nothing arrived`;
        case 'no-reply': return `${a.peer} did not answer`;
        default: return `${a.peer} refused (${a.result})`;
      }
    })
    .join('; ');
}
