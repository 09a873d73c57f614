// Whom a failed attempt is held against: the peer, or this host.
import test from 'ava';
import { PeerProtoError } from '../../../daemon/peerproto/errors.js';
import { blameFailure, localSendError, type AttemptOutcome } from '../../../daemon/peers/failure-blame.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const P = (n: number): string => `fd5e:1:0:${n}::/64`;

function sendError(errno: string): PeerProtoError {
  const cause = Object.assign(new Error(`send ${errno} 10.0.0.2:1194`), { code: errno, errno: -1, syscall: 'send' });
  return new PeerProtoError('RN_PEERPROTO_SEND', `cannot send a peer message to 10.0.0.2:1194 (${cause.message})`, { cause });
}

const failed = (peer: string, atMs: number): AttemptOutcome => ({ peer, atMs, ok: false });

test('localSendError: errno through the cause chain; the peer-protocol code when no errno; nothing for a timeout', (t) => {
  for (const errno of ['EPERM', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN']) t.is(localSendError(sendError(errno)), errno);
  t.is(localSendError(new PeerProtoError('RN_PEERPROTO_SEND', 'cannot send')), 'RN_PEERPROTO_SEND');
  t.is(localSendError(new PeerProtoError('RN_PEERPROTO_NOT_RUNNING', 'stopped')), 'RN_PEERPROTO_NOT_RUNNING');
  t.is(localSendError(new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply')), undefined);
  t.is(localSendError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined, 'the peer refused: about the peer');
  t.is(localSendError(undefined), undefined);
  t.is(localSendError('EPERM'), undefined, 'a bare string is no error object');
});

test('a send this host refused is local, even while other peers answer', (t) => {
  const v = blameFailure(sendError('EPERM'), { nowMs: T0, attempts: [failed(P(1), T0)], lastHeardMs: T0 - S });
  t.deepEqual(v, { blame: 'local', why: 'this host could not send (EPERM)' });
});

test('no answer while other peers answer: the peer', (t) => {
  const attempts = [failed(P(1), T0 - 3 * S), failed(P(2), T0 - 2 * S), failed(P(3), T0)];
  const v = blameFailure(new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply'), { nowMs: T0, attempts, lastHeardMs: T0 - 5 * S });
  t.is(v.blame, 'peer');
});

interface Row {
  name: string;
  attempts: AttemptOutcome[];
  lastHeardMs: number | null;
  want: 'peer' | 'local';
}

const rows: Row[] = [
  { name: 'only this peer failing, silence', attempts: [failed(P(1), T0 - 60 * S), failed(P(1), T0)], lastHeardMs: T0 - 90 * S, want: 'peer' },
  { name: 'two peers failing in a row, silence for 61 s', attempts: [failed(P(1), T0 - S), failed(P(2), T0)], lastHeardMs: T0 - 61 * S, want: 'local' },
  { name: 'two peers failing, nothing ever heard', attempts: [failed(P(1), T0 - S), failed(P(2), T0)], lastHeardMs: null, want: 'local' },
  { name: 'two peers failing, but heard 29 s ago', attempts: [failed(P(1), T0 - S), failed(P(2), T0)], lastHeardMs: T0 - 29 * S, want: 'peer' },
  { name: 'a success breaks the streak', attempts: [failed(P(1), T0 - 2 * S), { peer: P(3), atMs: T0 - S, ok: true }, failed(P(2), T0)], lastHeardMs: T0 - 40 * S, want: 'peer' },
  { name: 'the other failure is outside the 120 s window', attempts: [failed(P(1), T0 - 121 * S), failed(P(2), T0)], lastHeardMs: T0 - 200 * S, want: 'peer' },
];

for (const r of rows) {
  test(`no answer: ${r.name} → ${r.want}`, (t) => {
    const v = blameFailure(undefined, { nowMs: T0, attempts: r.attempts, lastHeardMs: r.lastHeardMs });
    t.is(v.blame, r.want, v.why);
  });
}

test('the local verdict says why', (t) => {
  const v = blameFailure(undefined, { nowMs: T0, attempts: [failed(P(1), T0 - S), failed(P(2), T0 - S), failed(P(3), T0)], lastHeardMs: T0 - 61 * S });
  t.is(v.why, 'every peer failing at once: 3 peers failed in a row within 120 s, nothing heard from anyone for 61 s');
});
