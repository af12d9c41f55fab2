import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hasErrno, writeFileAtomic } from '../util/index.js';
import type { ComposeConversion } from './types.js';

/** The first comment of every spec vessel compose writes (service.ts): marks the file as a conversion's. */
export const CONVERTED_MARK = 'converted by vessel compose from ';

/**
 * Write one NAME.ini per service into `dir` (each atomically: the watcher of a running `vessel up`
 * never reads half a file). `prune`: remove earlier conversions' specs that are no longer part of
 * it (`compose up`'s own directory), so a service deleted from the compose file stops. Files not
 * written by vessel compose are never touched.
 */
export function writeConversion(c: ComposeConversion, dir: string, opts: { prune?: boolean } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const s of c.services) {
    const path = join(dir, `${s.name}.ini`);
    writeFileAtomic(path, s.text, 0o644);
    written.push(path);
  }
  if (opts.prune) {
    const keep = new Set(c.services.map((s) => `${s.name}.ini`));
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.ini') || keep.has(f)) continue;
      let first = '';
      try {
        first = readFileSync(join(dir, f), 'utf8').split('\n', 1)[0] ?? '';
      } catch (e) {
        if (!hasErrno(e, 'ENOENT')) throw e;
      }
      if (first.startsWith(`# ${CONVERTED_MARK}`)) unlinkSync(join(dir, f));
    }
  }
  return written;
}
