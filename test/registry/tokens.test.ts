import test from 'ava';
import { checkToken, hashSecret, newToken, parseDuration, splitToken, tokenState, type TokenRow } from '../../registry/tokens.js';
import { errorCode } from '../fixtures/error-code.js';

const NOW = 1_800_000_000_000;

function row(over: Partial<TokenRow> = {}): { text: string; row: TokenRow } {
  const t = newToken();
  return {
    text: t.text,
    row: { id: t.id, secretSha256: hashSecret(t.secret), usesTotal: 1, usesLeft: 1, email: null, createdAtMs: NOW, expiresAtMs: null, revokedAtMs: null, ...over },
  };
}

test('token text splits into ID and secret', (t) => {
  const tok = newToken();
  t.deepEqual(splitToken(tok.text), { id: tok.id, secret: tok.secret });
  t.is(splitToken('nope'), undefined);
  t.is(splitToken('abcdefgh.short'), undefined);
});

test('token lifecycle: usable, used, expired, revoked', (t) => {
  const fresh = row();
  t.is(tokenState(fresh.row, NOW), 'usable');
  t.is(checkToken(fresh.text, fresh.row, NOW).id, fresh.row.id);
  t.is(tokenState({ ...fresh.row, usesLeft: 0 }, NOW), 'used');
  t.is(errorCode(() => checkToken(fresh.text, { ...fresh.row, usesLeft: 0 }, NOW)), 'RN_REGISTRY_TOKEN_USED');
  const expiring = row({ expiresAtMs: NOW + 1000 });
  t.is(checkToken(expiring.text, expiring.row, NOW + 999).id, expiring.row.id);
  t.is(errorCode(() => checkToken(expiring.text, expiring.row, NOW + 1000)), 'RN_REGISTRY_TOKEN_EXPIRED');
  t.is(errorCode(() => checkToken(fresh.text, { ...fresh.row, revokedAtMs: NOW }, NOW)), 'RN_REGISTRY_TOKEN_INVALID');
});

test('unknown tokens and wrong secrets are invalid', (t) => {
  const a = row();
  const b = row();
  t.is(errorCode(() => checkToken(a.text, undefined, NOW)), 'RN_REGISTRY_TOKEN_INVALID');
  t.is(errorCode(() => checkToken(`${a.row.id}.${b.text.split('.')[1]}`, a.row, NOW)), 'RN_REGISTRY_TOKEN_INVALID');
  t.is(errorCode(() => checkToken('garbage', a.row, NOW)), 'RN_REGISTRY_TOKEN_INVALID');
});

test('parseDuration', (t) => {
  const table: [string, number][] = [['90s', 90_000], ['30m', 1_800_000], ['12h', 43_200_000], ['7d', 604_800_000], ['2w', 1_209_600_000]];
  for (const [text, ms] of table) t.is(parseDuration(text), ms, text);
  for (const bad of ['', '7', 'd', '0d', '-1d', '1y', '1.5d']) t.is(errorCode(() => parseDuration(bad)), 'RN_REGISTRY_DURATION_INVALID', bad);
});
