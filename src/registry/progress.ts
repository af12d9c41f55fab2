/**
 * Transfer progress: a one-line bar on a TTY (bytes, rate, ETA), JSON lines with --json, and
 * nothing otherwise. Only digests, sizes and the credential-free registry display name are
 * ever written: URLs reach this file already redacted (url.ts).
 */
import { formatBytes } from '../image/index.js';

export type ProgressEvent =
  | { event: 'start'; op: 'publish' | 'pull'; image: string; registry: string; total: number; blobs: number }
  | { event: 'blob'; digest: string; size: number; action: 'upload' | 'download' | 'skip' | 'resume' | 'done' }
  | { event: 'retry'; what: string; attempt: number; reason: string }
  | { event: 'progress'; done: number; total: number }
  | { event: 'done'; op: 'publish' | 'pull'; image: string; digest: string; transferred: number; skipped: number; seconds: number };

export interface Reporter {
  emit(e: ProgressEvent): void;
  /** Bytes moved (counted toward the bar). */
  bytes(n: number): void;
  finish(): void;
}


function formatEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

/** The bar, pure: `label [####      ]  42%  12.3 MB / 29.0 MB  8.10 MB/s  ETA 00:02`. */
export function renderBar(label: string, done: number, total: number, rate: number, width = 24): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(frac * width);
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  return `${label} [${'#'.repeat(full)}${' '.repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(Math.round(rate))}/s  ETA ${formatEta(eta)}`;
}

export function makeReporter(opts: { json: boolean; tty: boolean; label: string; out?: { write(s: string): unknown } }): Reporter {
  const out = opts.out ?? (opts.json ? process.stdout : process.stderr);
  let total = 0;
  let done = 0;
  const started = Date.now();
  let lastDraw = 0;
  let lastJson = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const rate = done / Math.max(0.001, (now - started) / 1000);
    out.write(`\r\x1b[K${renderBar(opts.label, done, total, rate)}`);
  };
  return {
    emit(e) {
      if (e.event === 'start') total = e.total;
      if (opts.json) out.write(JSON.stringify(e) + '\n');
      else if (opts.tty && e.event === 'retry') out.write(`\r\x1b[Kretrying ${e.what} (attempt ${e.attempt}): ${e.reason}\n`);
    },
    bytes(n) {
      done += n;
      if (opts.tty && !opts.json) draw();
      else if (opts.json && Date.now() - lastJson >= 250) {
        lastJson = Date.now();
        out.write(JSON.stringify({ event: 'progress', done, total } satisfies ProgressEvent) + '\n');
      }
    },
    finish() {
      if (opts.tty && !opts.json && total > 0) {
        draw(true);
        out.write('\n');
      }
    },
  };
}

export const silentReporter: Reporter = { emit() {}, bytes() {}, finish() {} };
