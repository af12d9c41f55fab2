import type { Command } from 'commander';

/** A progress callback that redraws one line on stderr when it is a terminal, else nothing. */
async function progressBar(label: string): Promise<{ update: (p: { done: number; total: number }) => void; end: () => void }> {
  if (!process.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  const { renderProgress } = await import('../image/progress.js');
  let last = 0;
  let drawn = false;
  return {
    update: ({ done, total }) => {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      drawn = true;
      process.stderr.write(`\r${renderProgress(label, done, total)}\x1b[K`);
    },
    end: () => {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}

export function define(program: Command): void {
  const image = program.command('image').description('manage images: import, inspect, rm');

  image
    .command('import')
    .description('import a root filesystem tarball (.tar, .tar.gz, .tar.xz, .tar.zst) as NAME[:TAG]')
    .argument('<file>', 'the archive')
    .argument('<name>', 'NAME[:TAG] (tag defaults to latest)')
    .action(async (file: string, name: string) => {
      const { importRootfsTarball } = await import('../image/import-rootfs.js');
      const bar = await progressBar('importing');
      try {
        const rec = await importRootfsTarball(file, name, { onProgress: bar.update });
        bar.end();
        process.stdout.write(`${rec.id}\n`);
      } catch (e) {
        bar.end();
        throw e;
      }
    });

  image
    .command('inspect')
    .description('print an image record as JSON')
    .argument('<image>', 'NAME[:TAG] or image id')
    .action(async (ref: string) => {
      const { findImage, toImageRecord } = await import('../image/list.js');
      const { stored, ref: r } = await findImage(ref);
      const rec = toImageRecord(stored, r);
      process.stdout.write(JSON.stringify({ ...rec, manifest: stored.manifest.digest, layerBlobs: stored.layerBlobs }, null, 2) + '\n');
    });

  image
    .command('rm')
    .description('remove image tags; an image used by a container is refused')
    .argument('<images...>', 'NAME[:TAG] or image id')
    .action(async (refs: string[]) => {
      const { removeImage } = await import('../image/remove.js');
      for (const r of refs) {
        const res = await removeImage(r);
        for (const t of res.untagged) process.stdout.write(`Untagged: ${t}\n`);
        if (res.deleted) process.stdout.write(`Deleted: ${res.deleted}\n`);
      }
    });
}
