import test from 'ava';
import { nextRestartDelayMs, MAX_RESTART_DELAY_MS } from '../../../daemon/supervisor/backoff.js';

const table: Array<{ failures: number; want: number }> = [
  { failures: 0, want: 0 },
  { failures: 1, want: 0 },
  { failures: 2, want: 1000 },
  { failures: 3, want: 2000 },
  { failures: 4, want: 4000 },
  { failures: 6, want: 16_000 },
  { failures: 7, want: 30_000 },
  { failures: 1000, want: MAX_RESTART_DELAY_MS },
  { failures: Number.NaN, want: 0 },
];

for (const row of table) {
  test(`nextRestartDelayMs(${row.failures}) = ${row.want}`, (t) => {
    t.is(nextRestartDelayMs(row.failures), row.want);
  });
}
