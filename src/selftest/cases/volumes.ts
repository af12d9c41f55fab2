import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerConfig } from '../../runtime/index.js';
import { check, type ContractCase } from '../contract.js';
import { expectExit, expectLine, logOf, withProbe, withRunning } from '../probe.js';

/**
 * Bind volumes: a read-only directory the container reads and cannot write (EROFS, even as
 * root), a read-write one whose writes the host sees, and a single file mounted on its own.
 * Their sources live in the case container's directory, removed with it. The command runs as
 * root: the read-only volume must refuse even root.
 */

const RO = '/selftest-ro';
const RW = '/selftest-rw';
const FILE = '/selftest-file';
const RO_TEXT = 'read-only data';
const FILE_TEXT = 'one file';

function sources(cfg: ContainerConfig): { ro: string; rw: string; file: string } {
  const dir = join(cfg.dir, 'selftest-volumes');
  return { ro: join(dir, 'ro'), rw: join(dir, 'rw'), file: join(dir, 'file.txt') };
}

/** Fresh sources on the host: the read-only one holds a file, the read-write one is empty. */
function makeSources(cfg: ContainerConfig): ReturnType<typeof sources> {
  const s = sources(cfg);
  rmSync(join(cfg.dir, 'selftest-volumes'), { recursive: true, force: true });
  mkdirSync(s.ro, { recursive: true });
  mkdirSync(s.rw, { recursive: true });
  writeFileSync(join(s.ro, 'hello'), RO_TEXT);
  writeFileSync(s.file, FILE_TEXT);
  return s;
}

const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

export const VOLUME_CASES: readonly ContractCase[] = [
  {
    id: 'volumes',
    feature: 'bind volumes: read-only and read-write directories',
    title: 'a read-only bind volume is read and refuses writes (EROFS); what the container writes to a read-write one is on the host',
    configure(base, h) {
      const s = sources(base);
      const cfg = withProbe(base, h, [['read', `${RO}/hello`], ['write', `${RO}/new`, 'x'], ['write', `${RW}/new`, 'from the container'], ['exit', '0']]);
      return { ...cfg, user: 'root', mounts: [...cfg.mounts, { kind: 'bind', source: s.ro, target: RO, readonly: true }, { kind: 'bind', source: s.rw, target: RW, readonly: false }] };
    },
    async run(h, cfg) {
      const s = makeSources(cfg);
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 0 }, 'the volume probe');
        expectLine(log, `read ${RO}/hello ${RO_TEXT}`, 'the read-only volume\'s file');
        expectLine(log, `write ${RO}/new error EROFS`, 'a write to the read-only volume');
        check(!existsSync(join(s.ro, 'new')), 'a write to the read-only volume reached the host');
        expectLine(log, `write ${RW}/new ok`, 'a write to the read-write volume');
        check(read(join(s.rw, 'new')) === 'from the container', `the host does not see the container's write to the read-write volume (${JSON.stringify(read(join(s.rw, 'new')))})`);
      });
    },
  },
  {
    id: 'volume-file',
    feature: 'bind volumes: a single file',
    title: 'a single file mounted on its own is read and written through to the host',
    needs: (os) => ({ checks: os === 'freebsd' ? ['nullfs-file'] : [] }),
    configure(base, h) {
      const cfg = withProbe(base, h, [['read', FILE], ['write', FILE, 'rewritten'], ['exit', '0']]);
      return { ...cfg, user: 'root', mounts: [...cfg.mounts, { kind: 'bind', source: sources(base).file, target: FILE, readonly: false }] };
    },
    async run(h, cfg) {
      const s = makeSources(cfg);
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 0 }, 'the file volume probe');
        expectLine(log, `read ${FILE} ${FILE_TEXT}`, 'the file volume');
        expectLine(log, `write ${FILE} ok`, 'a write to the file volume');
        check(read(s.file) === 'rewritten', `the host does not see the container's write to the file volume (${JSON.stringify(read(s.file))})`);
      });
    },
  },
];
