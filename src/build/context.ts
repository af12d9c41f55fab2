import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { VesselfileError } from './vesselfile.js';

/**
 * The build context: COPY/ADD sources are resolved inside it and nowhere else (no "..", no
 * symlink leading out), with `*` and `?` wildcards in the last component, and digested so the
 * build cache knows when a source changed.
 */
export interface Where {
  file: string;
  line: number;
}

function wildcard(pattern: string): RegExp {
  return new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
}

export async function resolveSources(context: string, sources: string[], where: Where): Promise<string[]> {
  const ctx = await realpath(context);
  const out: string[] = [];
  for (const src of sources) {
    if (/^[a-z]+:\/\//i.test(src)) throw new VesselfileError(where.file, where.line, `${src}: URLs are not supported`, 'download in a RUN step, or put the file in the build context');
    const abs = resolve(ctx, src.replace(/^\/+/, ''));
    if (abs !== ctx && !abs.startsWith(ctx + sep)) throw new VesselfileError(where.file, where.line, `${src}: outside the build context`);
    let matches = [abs];
    if (/[*?]/.test(basename(abs))) {
      const re = wildcard(basename(abs));
      const names = await readdir(dirname(abs)).catch(() => [] as string[]);
      matches = names.filter((n) => re.test(n)).sort().map((n) => join(dirname(abs), n));
      if (matches.length === 0) throw new VesselfileError(where.file, where.line, `${src}: no file in the build context matches`);
    }
    for (const m of matches) {
      let real: string;
      try {
        real = await realpath(m);
      } catch {
        throw new VesselfileError(where.file, where.line, `${src}: no such file in the build context (${relative(ctx, m) || '.'})`);
      }
      if (real !== ctx && !real.startsWith(ctx + sep)) throw new VesselfileError(where.file, where.line, `${src}: a symlink leading outside the build context`);
      out.push(real);
    }
  }
  return out;
}

/** Digest of paths, types, modes, sizes, contents and link targets under `paths` (recursive). */
export async function digestSources(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = await lstat(p);
    h.update(`${rel}\0${st.mode}\0${st.size}\0`);
    if (st.isSymbolicLink()) h.update(await readlink(p));
    else if (st.isFile()) for await (const c of createReadStream(p) as AsyncIterable<Buffer>) h.update(c);
    else if (st.isDirectory()) for (const n of (await readdir(p)).sort()) await walk(join(p, n), `${rel}/${n}`);
  };
  for (const p of paths) await walk(p, basename(p));
  return h.digest('hex');
}
