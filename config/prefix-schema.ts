// The zod type of an IPv6 prefix field: accepts any valid spelling, yields the
// canonical CIDR text, and reports why a bad one is refused.
import * as z from 'zod';
import { canonicalPrefix } from './ipv6.js';
import { lazySchema } from './lazy-schema.js';

export const prefixText = lazySchema(() => z.string().transform((text, ctx) => {
  try {
    return canonicalPrefix(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
}));
