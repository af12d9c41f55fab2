import type { Command } from 'commander';
import { callerPath, processIo, type CliIo } from './io.js';

/** A progress callback that redraws one line on the caller's stderr when it is a terminal, else nothing. */
async function progressBar(label: string, io: CliIo = processIo()): Promise<{ update: (p: { done: number; total: number }) => void; end: () => void }> {
  if (!io.tty) return { update: () => undefined, end: () => undefined };
  const { renderProgress } = await import('../image/index.js');
  let last = 0;
  let drawn = false;
  return {
    update: ({ done, total }) => {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      drawn = true;
      io.err(`\r${renderProgress(label, done, total)}\x1b[K`);
    },
    end: () => {
      if (drawn) io.err('\r\x1b[K');
    },
  };
}

export function define(program: Command): void {
  const image = program.command('image').description('manage images: import, export, inspect, tag, rm, prune');

  image
    .command('import')
    .description('import an image: OCI archive, appc .aci, ISO 9660, or a root filesystem tarball (.tar, .tar.gz, .tar.xz, .tar.zst)')
    .argument('<file>', 'the archive')
    .argument('[name]', 'NAME[:TAG] (tag defaults to latest); optional when the archive names its image')
    .option('--format <format>', 'oci | aci | iso | rootfs (default: recognised from the content)')
    .action((file: string, name: string | undefined, opts: ImportCliOptions) => importAction(file, name, opts, processIo()));

  image
    .command('base')
    .description('build a FreeBSD image offline from a FreeBSD base system: its /rescue programs and fresh account files')
    .argument('[name]', 'NAME[:TAG]', 'freebsd:latest')
    .option('--from <dir>', 'root of the FreeBSD base system to take /rescue and /etc files from', '/')
    .action(async (name: string, opts: { from: string }) => {
      const { buildBaseImage } = await import('../image/index.js');
      const bar = await progressBar('building');
      try {
        const rec = await buildBaseImage(name, { from: opts.from, onProgress: bar.update });
        bar.end();
        process.stdout.write(`${rec.id}\n`);
      } catch (e) {
        bar.end();
        throw e;
      }
    });

  image
    .command('export')
    .description('write an image to a file: an OCI archive (default), an appc .aci, or a flat root filesystem tarball')
    .argument('<image>', 'NAME[:TAG] or image id')
    .argument('<file>', 'output file (for tar, .gz/.xz/.zst choose the compression)')
    .option('--format <format>', 'oci | aci | tar', 'oci')
    .action(async (ref: string, file: string, opts: { format: string }) => {
      const { exportImage, assertFormat } = await import('../image/index.js');
      const format = assertFormat(opts.format);
      const bar = await progressBar('exporting');
      try {
        await exportImage(ref, file, { format, onProgress: bar.update });
      } finally {
        bar.end();
      }
    });

  image
    .command('inspect')
    .description('print an image record as JSON')
    .argument('<image>', 'NAME[:TAG] or image id')
    .action(async (ref: string) => {
      const { findImage, toImageRecord } = await import('../image/index.js');
      const { stored, ref: r } = await findImage(ref);
      const rec = toImageRecord(stored, r);
      process.stdout.write(JSON.stringify({ ...rec, manifest: stored.manifest.digest, layerBlobs: stored.layerBlobs }, null, 2) + '\n');
    });

  image
    .command('tag')
    .description('give an image another NAME[:TAG]')
    .argument('<source>', 'NAME[:TAG] or image id')
    .argument('<target>', 'NAME[:TAG]')
    .action(async (source: string, target: string) => {
      const { tagImage } = await import('../image/index.js');
      await tagImage(source, target);
    });

  image
    .command('rm')
    .description('remove image tags (an image given by id loses all of them); an image used by a container is refused')
    .argument('<images...>', 'NAME[:TAG] or image id')
    .action(async (refs: string[]) => {
      const { removeImage } = await import('../image/index.js');
      const { pruneImages } = await import('../image/index.js');
      const { imageUsers } = await import('../supervise/index.js');
      let deleted = false;
      for (const r of refs) {
        const res = await removeImage(r, { users: imageUsers });
        for (const t of res.untagged) process.stdout.write(`Untagged: ${t}\n`);
        if (res.deleted) {
          deleted = true;
          process.stdout.write(`Deleted: ${res.deleted}\n`);
        }
      }
      // The last tag gone: free the image's blobs and layers now, as docker rmi does.
      if (deleted) await pruneImages(imageUsers);
    });

  image
    .command('prune')
    .description('remove untagged images and every blob and layer no image uses')
    .action(async () => {
      const { pruneImages } = await import('../image/index.js');
      const { imageUsers } = await import('../supervise/index.js');
      const r = await pruneImages(imageUsers);
      for (const id of r.images) process.stdout.write(`Deleted: ${id}\n`);
      process.stdout.write(`removed ${r.images.length} image(s), ${r.blobs} blob(s), ${r.layers} layer(s)${r.flattened ? `, ${r.flattened} flattened chain(s)` : ''}\n`);
      if (r.skipped) process.stderr.write(`vessel: blobs and layers kept: ${r.skipped}\n`);
    });
}

export interface ImportCliOptions {
  format?: string;
}

/** `vessel image import`, for this process or for a caller of vessel up (serve.ts). */
export async function importAction(file: string, name: string | undefined, opts: ImportCliOptions, io: CliIo): Promise<void> {
  const { importImage } = await import('../image/index.js');
  if (opts.format !== undefined && !['oci', 'aci', 'iso', 'rootfs'].includes(opts.format)) {
    const { VesselError } = await import('../util/index.js');
    throw new VesselError('E_USAGE', `--format ${opts.format}: expected oci, aci, iso or rootfs`);
  }
  const bar = await progressBar('importing', io);
  try {
    const rec = await importImage(callerPath(io, file), name, { onProgress: bar.update, ...(opts.format ? { format: opts.format as 'oci' } : {}), ...(io.signal ? { signal: io.signal } : {}) });
    bar.end();
    io.out(`${rec.id}\n`);
  } catch (e) {
    bar.end();
    throw e;
  }
}
