import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/host.js';
import { makeStaging, dropStaging } from './store.js';

/**
 * Give `fn` one directory showing the image's merged root filesystem (whiteouts applied), by a
 * read-only overlay of the layer directories. An empty directory is always added at the bottom:
 * overlayfs refuses a lower-only mount with a single lower directory.
 */
export async function withMergedRoot<T>(layerDirs: string[], fn: (dir: string) => Promise<T>): Promise<T> {
  const staging = await makeStaging('flatten');
  const empty = join(staging, 'empty');
  const merged = await mkdtemp(join(staging, 'merged-'));
  await mkdir(empty);
  const lower = [...layerDirs].reverse().concat(empty).join(':');
  let mounted = false;
  try {
    await run(['mount', '-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, merged]);
    mounted = true;
    return await fn(merged);
  } finally {
    if (mounted) await run(['umount', merged], { allowFailure: true });
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    await dropStaging(staging);
  }
}

/** GNU tar options for a root filesystem as data: numeric owners, xattrs but not overlay's. */
export function tarCreateArgv(dir: string, out: string, compression: 'none' | 'gzip' | 'xz' | 'zstd', extra: string[] = []): string[] {
  const comp = compression === 'gzip' ? ['--gzip'] : compression === 'xz' ? ['--xz'] : compression === 'zstd' ? ['--zstd'] : [];
  return [
    'tar', '-c', '-f', out, ...comp, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*',
    '--sort=name', ...extra, '-C', dir, '.',
  ];
}
