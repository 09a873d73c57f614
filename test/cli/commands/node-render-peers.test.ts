// `resilnet peers --dead`: the CAUSE column and a NEXT RETRY true to the retry policy.
import test from 'ava';
import { formatNextRetry, renderPeers, type PeerRow } from '../../../cli/commands/node-render.js';

const NOW = 1_700_000_000_000;
const MIN = 60_000;

const deadPeer = (prefix: string, over: Partial<PeerRow>): PeerRow => ({
  prefix,
  addresses: ['10.1.0.7:1194'],
  source: 'registry',
  firstSeenMs: NOW - 60 * MIN,
  lastSeenMs: NOW - 10 * MIN,
  lastSuccessMs: null,
  failures: 3,
  dead: true,
  deadReason: '3 failed attempts (no answer to tunnel-request at 10.1.0.7:1194)',
  deadSinceMs: NOW - 5 * MIN,
  nextRetryMs: NOW + 3 * MIN,
  rttMs: null,
  adjacent: false,
  deadCause: 'failures',
  ...over,
});

test('dead table: cause, and the next retry as the policy will really do it (in N min / due now / never)', (t) => {
  const peers = [
    deadPeer('fd5e:1:2:7::/64', {}),
    deadPeer('fd5e:1:2:8::/64', { failures: 5, nextRetryMs: NOW - 1000 }),
    deadPeer('fd5e:1:2:9::/64', { failures: 0, deadReason: 'certificate 2b revoked', deadCause: 'revoked', nextRetryMs: null, deadSinceMs: NOW - 120 * MIN }),
  ];
  t.is(
    renderPeers({ peers }, { dead: true }, NOW),
    [
      'PEER             CAUSE     REASON                                                            SINCE          FAILURES  NEXT RETRY',
      'fd5e:1:2:7::/64  failures  3 failed attempts (no answer to tunnel-request at 10.1.0.7:1194)  5 min ago      3         in 3 min',
      'fd5e:1:2:8::/64  failures  3 failed attempts (no answer to tunnel-request at 10.1.0.7:1194)  5 min ago      5         due now',
      'fd5e:1:2:9::/64  revoked   certificate 2b revoked                                            2 h 0 min ago  0         never',
      '',
    ].join('\n'),
  );
});

test('formatNextRetry: revoked is never retried; a live peer without backoff has no retry time', (t) => {
  t.is(formatNextRetry(deadPeer('fd5e:1:2:9::/64', { deadCause: 'revoked', nextRetryMs: NOW + MIN }), NOW), 'never');
  t.is(formatNextRetry(deadPeer('fd5e:1:2:9::/64', { dead: false, deadCause: null, nextRetryMs: null }), NOW), '-');
  t.is(formatNextRetry(deadPeer('fd5e:1:2:9::/64', { nextRetryMs: NOW }), NOW), 'due now');
  t.is(formatNextRetry(deadPeer('fd5e:1:2:9::/64', { nextRetryMs: NOW + 36 * MIN }), NOW), 'in 36 min');
});
