// planLeaseRenewal as a stepped table: each step has a time, a state, the expected plan.
import test from 'ava';
import { planLeaseRenewal, retryDelayMs, type LeasePlan, type LeaseState } from '../../../daemon/upnp/lease.js';

const T0 = 1_700_000_000_000;
const S = 1000;

const cases: { name: string; state: LeaseState; nowMs: number; want: Partial<LeasePlan> }[] = [
  { name: 'never mapped: map now', state: { requestedLeaseSec: 3600, failures: 0 }, nowMs: T0, want: { kind: 'renew', reason: 'not-mapped', expired: true } },
  {
    name: 'just mapped: wait for half the lease',
    state: { requestedLeaseSec: 3600, grantedLeaseSec: 3600, mappedAtMs: T0, failures: 0 },
    nowMs: T0 + 10 * S,
    want: { kind: 'wait', untilMs: T0 + 1800 * S, reason: 'lease-running', expired: false, expiresAtMs: T0 + 3600 * S },
  },
  {
    name: 'half the lease passed: renew',
    state: { requestedLeaseSec: 3600, grantedLeaseSec: 3600, mappedAtMs: T0, failures: 0 },
    nowMs: T0 + 1800 * S,
    want: { kind: 'renew', reason: 'half-lease', expired: false },
  },
  {
    name: 'gateway shortened the lease: half of the granted one counts',
    state: { requestedLeaseSec: 3600, grantedLeaseSec: 600, mappedAtMs: T0, failures: 0 },
    nowMs: T0,
    want: { kind: 'wait', untilMs: T0 + 300 * S, expiresAtMs: T0 + 600 * S },
  },
  {
    name: 'permanent mapping: re-asserted every half requested lease, never expires',
    state: { requestedLeaseSec: 3600, grantedLeaseSec: 0, mappedAtMs: T0, failures: 0 },
    nowMs: T0 + 1800 * S,
    want: { kind: 'renew', reason: 'refresh-permanent', expired: false, expiresAtMs: undefined },
  },
  {
    name: 'first map failed: back off 5 s',
    state: { requestedLeaseSec: 3600, failures: 1, lastFailureAtMs: T0 },
    nowMs: T0 + 1 * S,
    want: { kind: 'wait', untilMs: T0 + 5 * S, reason: 'backoff', expired: true },
  },
  {
    name: 'first map failed, backoff over: retry',
    state: { requestedLeaseSec: 3600, failures: 1, lastFailureAtMs: T0 },
    nowMs: T0 + 5 * S,
    want: { kind: 'renew', reason: 'retry' },
  },
  {
    name: 'renewal failed 10 times: backoff capped at 5 min',
    state: { requestedLeaseSec: 3600, failures: 10, lastFailureAtMs: T0 },
    nowMs: T0,
    want: { kind: 'wait', untilMs: T0 + 300 * S },
  },
  {
    name: 'renewal failing near expiry: retries stay inside the remaining lease',
    state: { requestedLeaseSec: 600, grantedLeaseSec: 600, mappedAtMs: T0, failures: 8, lastFailureAtMs: T0 + 580 * S },
    nowMs: T0 + 585 * S,
    want: { kind: 'wait', untilMs: T0 + 590 * S, reason: 'backoff', expired: false },
  },
  {
    name: 'lease ran out while failing: expired, retry on backoff',
    state: { requestedLeaseSec: 600, grantedLeaseSec: 600, mappedAtMs: T0, failures: 3, lastFailureAtMs: T0 + 599 * S },
    nowMs: T0 + 620 * S,
    want: { kind: 'renew', reason: 'retry', expired: true },
  },
  {
    name: 'tiny lease: renewals never closer than 1 s',
    state: { requestedLeaseSec: 1, grantedLeaseSec: 1, mappedAtMs: T0, failures: 0 },
    nowMs: T0,
    want: { kind: 'wait', untilMs: T0 + 1 * S },
  },
];

for (const c of cases) {
  test(`planLeaseRenewal: ${c.name}`, (t) => {
    t.like(planLeaseRenewal(c.state, c.nowMs), c.want);
  });
}

test('retryDelayMs doubles from 5 s and caps at 5 min', (t) => {
  t.deepEqual([0, 1, 2, 3, 6, 7, 50].map(retryDelayMs), [0, 5000, 10000, 20000, 160000, 300000, 300000]);
});
