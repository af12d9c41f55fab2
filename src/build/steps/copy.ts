import { lstatSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { run } from '../../util/index.js';
import { detectCompression, readHead, stageLayerFile, tarForms } from '../../image/index.js';
import { VesselfileError, type Instruction } from '../vesselfile.js';
import { digestSources, resolveSources } from '../context.js';
import { layerFromTree } from '../layers.js';
import { kindInImage, type BuildSession, type Where } from '../session.js';

/** uid:gid for --chown, names looked up in the image's own /etc/passwd and /etc/group. */
async function chownIds(spec: string, layerDirs: string[], where: { file: string; line: number }): Promise<string> {
  const [u, g] = spec.split(':');
  const lookupIn = async (file: string, name: string): Promise<string> => {
    if (/^\d+$/.test(name)) return name;
    for (const dir of [...layerDirs].reverse()) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const line = text.split('\n').find((l) => l.split(':')[0] === name);
      if (line) return line.split(':')[2]!;
      break;
    }
    throw new VesselfileError(where.file, where.line, `--chown=${spec}: no ${file === 'etc/passwd' ? 'user' : 'group'} "${name}" in the image`);
  };
  const uid = await lookupIn('etc/passwd', u!);
  const gid = g !== undefined ? await lookupIn('etc/group', g) : /^\d+$/.test(u!) ? uid : await (async () => {
    for (const dir of [...layerDirs].reverse()) {
      const text = await readFile(join(dir, 'etc/passwd'), 'utf8').catch(() => undefined);
      const line = text?.split('\n').find((l) => l.split(':')[0] === u);
      if (line) return line.split(':')[3]!;
    }
    return uid;
  })();
  return `${uid}:${gid}`;
}

function isArchive(head: Buffer): boolean {
  return detectCompression(head) !== 'none' || head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** COPY and ADD: the sources, owned as --chown says, in a layer of their own (cached by content). */
export async function copy(b: BuildSession, step: Instruction & { kind: 'COPY' | 'ADD' }, where: Where): Promise<void> {
  const sources = await resolveSources(b.opts.context, step.sources.map((s) => b.sub(s)), where);
  const destText = b.sub(step.dest);
  const dest = posix.resolve(b.state.config.workdir ?? '/', destText);
  const owner = await chownIds(step.chown ? b.sub(step.chown) : '0:0', b.layerDirs(), where);
  const digest = await digestSources(sources);
  const createdBy = `${step.kind} ${step.chown ? `--chown=${step.chown} ` : ''}${step.sources.join(' ')} ${step.dest}`;
  await b.cachedLayer([`${step.kind} ${owner} ${sources.length} ${destText} ${dest}`, digest], createdBy, async () => {
    const tree = await b.newTree();
    // docker's rule: into the directory when DEST ends in "/", names one already there, or
    // several sources are copied.
    const intoDir = destText.endsWith('/') || destText === '.' || sources.length > 1 || kindInImage(b.layerDirs(), dest) === 'dir';
    for (const src of sources) {
      const st = lstatSync(src);
      if (step.kind === 'ADD' && st.isFile() && isArchive(await readHead(src, 512))) {
        // ADD unpacks local archives, through the same safe extraction as image imports.
        const target = join(tree, dest);
        await mkdir(target, { recursive: true, mode: 0o755 });
        const unpacked = await stageLayerFile(src, b.staging, { source: `${where.file}:${where.line}: ${basename(src)}`, keepBlob: false });
        await run(tarForms().copyContents(unpacked.layerDir, target, true));
        continue;
      }
      if (st.isDirectory()) {
        const target = join(tree, dest);
        await mkdir(target, { recursive: true, mode: 0o755 });
        await run(tarForms().copyContents(src, target, false));
        await run(['chown', '-R', '-h', owner, target]);
      } else {
        const target = intoDir ? join(tree, dest, basename(src)) : join(tree, dest);
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await run(tarForms().copyPath(src, target, false));
        await run(['chown', '-h', owner, target]);
      }
    }
    return layerFromTree(tree, b.staging, `${where.file}:${where.line}`);
  });
}
