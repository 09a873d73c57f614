// Enrolment tokens (pure parts): the token text is "ID.SECRET"; the store
// keeps only the ID and a hash of the secret, so a leaked DB grants nothing.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ResilnetError } from '../config/errors.js';

export interface TokenRow {
  readonly id: string;
  readonly secretSha256: string;
  readonly usesTotal: number;
  readonly usesLeft: number;
  readonly email: string | null;
  readonly createdAtMs: number;
  readonly expiresAtMs: number | null;
  readonly revokedAtMs: number | null;
}

export type TokenState = 'usable' | 'used' | 'expired' | 'revoked';

export function newToken(): { id: string; secret: string; text: string } {
  const id = randomBytes(4).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  return { id, secret, text: `${id}.${secret}` };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Splits "ID.SECRET"; undefined when the text cannot be a token. */
export function splitToken(text: string): { id: string; secret: string } | undefined {
  const m = /^([0-9a-f]{8})\.([A-Za-z0-9_-]{16,64})$/.exec(text.trim());
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function tokenState(row: TokenRow, nowMs: number): TokenState {
  if (row.revokedAtMs !== null) return 'revoked';
  if (row.expiresAtMs !== null && nowMs >= row.expiresAtMs) return 'expired';
  if (row.usesLeft <= 0) return 'used';
  return 'usable';
}

const HINT = 'Ask the registry admin for a new token (`resilnet registry token add`), then run `resilnet register` again.';

/** Throws the RN_REGISTRY_TOKEN_* error that says why `text` cannot enrol now. */
export function checkToken(text: string, row: TokenRow | undefined, nowMs: number): TokenRow {
  const parts = splitToken(text);
  const matches =
    parts !== undefined &&
    row !== undefined &&
    row.id === parts.id &&
    timingSafeEqual(Buffer.from(row.secretSha256, 'hex'), Buffer.from(hashSecret(parts.secret), 'hex'));
  if (!matches || !row) {
    throw new ResilnetError('RN_REGISTRY_TOKEN_INVALID', 'registration refused: token invalid (unknown to this registry)', { hint: HINT });
  }
  switch (tokenState(row, nowMs)) {
    case 'revoked':
      throw new ResilnetError('RN_REGISTRY_TOKEN_INVALID', `registration refused: token ${row.id} was revoked`, { hint: HINT });
    case 'expired':
      throw new ResilnetError('RN_REGISTRY_TOKEN_EXPIRED', `registration refused: token ${row.id} expired at ${new Date(row.expiresAtMs ?? 0).toISOString()}`, { hint: HINT });
    case 'used':
      throw new ResilnetError('RN_REGISTRY_TOKEN_USED', `registration refused: token ${row.id} is used up (${row.usesTotal} of ${row.usesTotal} uses)`, { hint: HINT });
    case 'usable':
      return row;
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "30m", "12h", "7d", "2w" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) {
    throw new ResilnetError('RN_REGISTRY_DURATION_INVALID', `invalid duration "${text}": use a number and a unit s, m, h, d or w (e.g. 7d)`);
  }
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
