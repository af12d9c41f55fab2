/** Human sizes and the one-line progress bar the CLI redraws on a TTY (pure rendering). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function renderProgress(label: string, done: number, total: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.round(frac * width);
  const pct = `${Math.floor(frac * 100)}`.padStart(3);
  return `${label} [${'#'.repeat(full)}${' '.repeat(width - full)}] ${pct}%  ${formatBytes(done)} / ${formatBytes(total)}`;
}

/** "3 minutes ago" style ages for `vessel images`. */
export function formatAge(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: Array<[number, string]> = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month']];
  let v = s;
  for (const [div, unit] of steps) {
    if (v < div) return v <= 1 && unit === 'second' ? 'just now' : `${v} ${unit}${v === 1 ? '' : 's'} ago`;
    v = Math.floor(v / div);
  }
  return `${v} year${v === 1 ? '' : 's'} ago`;
}
