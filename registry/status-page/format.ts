// Short human forms shared by the status page and `resilnet registry nodes`.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** 1234567 → "1.2 MB" (decimal units, as the rest of the CLI prints rates). */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[i]}`;
}

/** RTT in ms, "-" when the node has none. */
export function formatRtt(rttMs: number | null): string {
  if (rttMs === null) return '-';
  return `${rttMs < 10 ? rttMs.toFixed(1) : Math.round(rttMs)} ms`;
}

/** How long ago an ISO time was, coarse ("12 s ago", "3 min ago", "2 h ago", "5 d ago"); "never" for null. */
export function formatAgo(isoTime: string | null, nowMs: number): string {
  if (isoTime === null) return 'never';
  const sec = Math.max(0, Math.round((nowMs - Date.parse(isoTime)) / 1000));
  if (sec < 120) return `${sec} s ago`;
  if (sec < 7200) return `${Math.round(sec / 60)} min ago`;
  if (sec < 172_800) return `${Math.round(sec / 3600)} h ago`;
  return `${Math.round(sec / 86_400)} d ago`;
}
