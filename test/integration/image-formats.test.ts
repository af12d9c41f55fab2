import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { compress, hashTree, makeOciArchive, makeTar, stagingLeft } from '../helpers/image.js';

const root = mkdtempSync(join(tmpdir(), 'vessel-image-formats-'));
process.env.VESSEL_ROOT = root;
const files = join(root, 'files');
const repo = resolve(__dirname, '..', '..');
const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

type Store = typeof import('../../src/image/index.js');
let store: Store;
let users: Parameters<Store['pruneImages']>[0];

/** Listing of a tar file: "type path" lines, sorted (what a round trip must keep). */
function tarNames(file: string): string[] {
  return sh('tar', ['-tvf', file]).split('\n').filter(Boolean).map((l) => {
    const parts = l.split(/\s+/);
    return `${l[0]} ${parts.slice(5).join(' ').replace(/^\.\//, '')}`;
  }).filter((l) => l !== 'd ' && l !== 'd .').sort();
}

const appConfig = {
  Cmd: ['/bin/httpd', '-f', '-p', '8080'],
  Env: ['PATH=/bin:/sbin', 'GREETING=hello'],
  WorkingDir: '/www',
  User: '1000:1000',
  ExposedPorts: { '8080/tcp': {} },
  Volumes: { '/data': {} },
  Labels: { maintainer: 'vessel tests' },
};

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  sh('sh', [join(repo, 'test/fixtures/build-busybox.sh'), join(files, 'busybox.tar')]);
  store = await import('../../src/image/index.js');
  users = (await import('../../src/supervise/index.js')).imageUsers;
  await store.importRootfsTarball(join(files, 'busybox.tar'), 'bb:1');
  // A two-layer image with a config and OCI whiteouts, as another tool would have written it.
  const top = await makeTar([
    { name: 'www', type: 'directory' },
    { name: 'www/.wh.index.html' },
    { name: 'etc', type: 'directory' },
    { name: 'etc/.wh..wh..opq' },
    { name: 'etc/motd', content: 'layered\n' },
    { name: 'app.txt', content: 'top layer\n' },
  ]);
  writeFileSync(join(files, 'app.oci.tar'), await makeOciArchive({
    layers: [readFileSync(join(files, 'busybox.tar')), top],
    config: appConfig,
    annotations: { 'org.opencontainers.image.ref.name': 'v1', 'io.containerd.image.name': 'app:v1' },
  }));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('OCI archives', () => {
  it('imports a layered image named by its archive, whiteouts turned into overlay form', async () => {
    const rec = await store.importImage(join(files, 'app.oci.tar'), undefined);
    expect(`${rec.name}:${rec.tag}`).toBe('app:v1');
    expect(rec.layers).toHaveLength(2);
    expect(rec.config).toMatchObject({ cmd: appConfig.Cmd, env: appConfig.Env, workdir: '/www', user: '1000:1000', exposedPorts: ['8080/tcp'], volumes: ['/data'] });
    const r = await store.resolveImage('app:v1');
    const top = r.layerDirs[1]!;
    const wh = lstatSync(join(top, 'www/index.html'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(existsSync(join(top, 'www/.wh.index.html'))).toBe(false);
    expect(existsSync(join(top, 'etc/.wh..wh..opq'))).toBe(false);
    // Whiteouts honoured by a real overlay of the layers.
    await store.withMergedRoot(r.record.layers, async (dir) => {
      expect(existsSync(join(dir, 'www/index.html'))).toBe(false);
      expect(readdirSync(join(dir, 'etc'))).toEqual(['motd']);
      expect(readFileSync(join(dir, 'app.txt'), 'utf8')).toBe('top layer\n');
      expect(lstatSync(join(dir, 'bin/busybox')).isFile()).toBe(true);
    });
  });

  it('a whiteout and a new entry of the same name in one layer (a directory replaced by a file and the reverse): the new entry shows, the lower one does not', async () => {
    const middle = await makeTar([
      { name: 'repl', type: 'directory' },
      { name: 'repl/d', type: 'directory' }, { name: 'repl/d/a', content: 'a\n' },
      { name: 'repl/f', content: 'was a file\n' },
      { name: 'repl/r', type: 'directory' }, { name: 'repl/r/old', content: 'old\n' },
    ]);
    // markers first, as a FreeBSD RUN layer (build/layers.ts) and docker write them
    const top = await makeTar([
      { name: 'repl/.wh.d' }, { name: 'repl/.wh.f' }, { name: 'repl/.wh.r' },
      { name: 'repl', type: 'directory' },
      { name: 'repl/d', content: 'now a file\n' },
      { name: 'repl/f', type: 'directory' }, { name: 'repl/f/inner', content: 'inner\n' },
      { name: 'repl/r', type: 'directory' }, { name: 'repl/r/new', content: 'new\n' },
    ]);
    writeFileSync(join(files, 'replace.oci.tar'), await makeOciArchive({ layers: [readFileSync(join(files, 'busybox.tar')), middle, top], config: { Cmd: ['/bin/sh'] } }));
    await store.importImage(join(files, 'replace.oci.tar'), 'replace:1');
    const r = await store.resolveImage('replace:1');
    // no whiteout node over the layer's own entries; a directory in a whited-out one's place is opaque
    expect(lstatSync(join(r.layerDirs[2]!, 'repl/d')).isFile()).toBe(true);
    expect(execFileSync('python3', ['-c', 'import os, sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())', join(r.layerDirs[2]!, 'repl/r')], { encoding: 'utf8' }).trim()).toBe('y');
    await store.withMergedRoot(r.record.layers, async (dir) => {
      expect(readFileSync(join(dir, 'repl/d'), 'utf8')).toBe('now a file\n');
      expect(readdirSync(join(dir, 'repl/f'))).toEqual(['inner']);
      expect(readdirSync(join(dir, 'repl/r'))).toEqual(['new']);
    });
    await store.removeImage('replace:1', { users });
    // its own two layers go now: the round trip below counts what a prune removes
    expect((await store.pruneImages(users)).layers).toBe(2);
  });

  it('exports an oci-archive that skopeo inspects and umoci unpacks', async () => {
    const out = join(files, 'app-export.oci.tar');
    await store.exportImage('app:v1', out, { format: 'oci' });
    const info = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${out}`])) as { Layers: string[]; Os: string };
    expect(info.Layers).toHaveLength(2);
    expect(info.Os).toBe('linux');
    const layout = join(files, 'umoci-layout');
    mkdirSync(layout);
    sh('tar', ['-xf', out, '-C', layout]);
    const bundle = join(files, 'umoci-bundle');
    sh('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    expect(lstatSync(join(bundle, 'rootfs/bin/busybox')).isFile()).toBe(true);
    expect(existsSync(join(bundle, 'rootfs/www/index.html'))).toBe(false);
    expect(readFileSync(join(bundle, 'rootfs/etc/motd'), 'utf8')).toBe('layered\n');
    expect(existsSync(join(bundle, 'rootfs/etc/passwd'))).toBe(false);
  });

  it('round-trips: export, remove, prune, import gives the same image and layers', async () => {
    const out = join(files, 'app-export.oci.tar');
    const before = await store.resolveImage('app:v1');
    const trees = before.layerDirs.map(hashTree);
    await store.removeImage('app:v1', { users });
    const pruned = await store.pruneImages(users);
    expect(pruned.images).toContain(before.record.id);
    expect(pruned.layers).toBe(1); // the busybox base is still used by bb:1
    const again = await store.importImage(out, undefined);
    expect(again.id).toBe(before.record.id);
    expect((await store.resolveImage('app:v1')).layerDirs.map(hashTree)).toEqual(trees);
  });

  it('a damaged store (a layer blob of another size, or gone): export says which blob, writes nothing', async () => {
    writeFileSync(join(files, 'dmg.tar'), await makeTar([{ name: 'f', content: 'damaged\n' }]));
    const rec = await store.importRootfsTarball(join(files, 'dmg.tar'), 'dmg:1');
    // a plain tar: its blob is named by its diff id
    const [digest, size] = [rec.layers[0]!, statSync(join(files, 'dmg.tar')).size];
    const blob = join(root, 'images', 'blobs', 'sha256', digest.slice(7));
    const out = join(files, 'dmg.oci.tar');
    writeFileSync(blob, Buffer.concat([readFileSync(blob), Buffer.from('x')]));
    await expect(store.exportImage('dmg:1', out, { format: 'oci' })).rejects.toThrow(`image "dmg:1": blob ${digest} is ${size + 1} bytes, not the ${size} its manifest says`);
    rmSync(blob);
    await expect(store.exportImage('dmg:1', out, { format: 'oci' })).rejects.toThrow(`image "dmg:1": blob ${digest} is missing`);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(files).filter((n) => n.startsWith('dmg.oci.tar'))).toEqual([]);
    await store.removeImage('dmg:1', { users });
  });

  it('imports an oci-archive made by skopeo', async () => {
    const theirs = join(files, 'skopeo.oci.tar');
    sh('skopeo', ['copy', '--quiet', `oci-archive:${join(files, 'app-export.oci.tar')}`, `oci-archive:${theirs}:copied`]);
    const rec = await store.importImage(theirs, 'copied:1');
    expect(rec.layers).toEqual((await store.resolveImage('app:v1')).record.layers);
    expect((await store.resolveImage('copied:1')).record.config.cmd).toEqual(appConfig.Cmd);
  });

  it('an xz layer (no OCI media type) is exported re-encoded as gzip, skopeo reads it', async () => {
    // content of its own: an image equal to one in the store would be that one, blob and all
    const tar = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/xz-only', content: 'kept as xz\n' }]);
    writeFileSync(join(files, 'xz-only.tar.xz'), compress(tar, 'xz'));
    const rec = await store.importImage(join(files, 'xz-only.tar.xz'), 'bbxz:1');
    const out = join(files, 'bbxz.oci.tar');
    await store.exportImage('bbxz:1', out, { format: 'oci' });
    const layout = join(files, 'bbxz-layout');
    mkdirSync(layout);
    sh('tar', ['-xf', out, '-C', layout]);
    const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString('utf8')) as { layers: Array<{ mediaType: string; digest: string; size: number }> };
    const [layer] = manifest.layers;
    expect(layer!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(`sha256:${createHash('sha256').update(blob(layer!.digest)).digest('hex')}`).toBe(layer!.digest);
    expect(blob(layer!.digest).length).toBe(layer!.size);
    expect(`sha256:${createHash('sha256').update(gunzipSync(blob(layer!.digest))).digest('hex')}`).toBe(rec.layers[0]);
    expect(JSON.parse(sh('skopeo', ['inspect', `oci-archive:${out}`])).Layers).toEqual([layer!.digest]);
  });
});

describe('flat tarballs', () => {
  it('exports the merged root and imports it back', async () => {
    const out = join(files, 'app-flat.tar.zst');
    await store.exportImage('app:v1', out, { format: 'tar' });
    const names = tarNames(out);
    expect(names).toContain('- app.txt');
    expect(names).not.toContain('- www/index.html');
    expect(names.filter((n) => n.startsWith('- etc/'))).toEqual(['- etc/motd']);
    expect(names).toContain('c dev/null');
    const rec = await store.importImage(out, 'flat:1');
    const r = await store.resolveImage(rec.id);
    expect(readFileSync(join(r.layerDirs[0]!, 'app.txt'), 'utf8')).toBe('top layer\n');
    expect(lstatSync(join(r.layerDirs[0]!, 'dev/null')).isCharacterDevice()).toBe(true);
  });
});

describe('appc .aci', () => {
  it('exports manifest + rootfs/ with the config mapped, and imports it back (gz, bz2, xz)', async () => {
    const out = join(files, 'app.aci');
    await store.exportImage('app:v1', out, { format: 'aci' });
    const manifest = JSON.parse(sh('tar', ['-xOzf', out, 'manifest'])) as { name: string; labels: Array<{ name: string; value: string }>; app: Record<string, unknown> };
    expect(manifest.name).toBe('app');
    expect(manifest.labels).toEqual(expect.arrayContaining([{ name: 'version', value: 'v1' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }]));
    expect(manifest.app).toMatchObject({
      exec: appConfig.Cmd, user: '1000', group: '1000', workingDirectory: '/www',
      environment: [{ name: 'PATH', value: '/bin:/sbin' }, { name: 'GREETING', value: 'hello' }],
      ports: [{ name: 'tcp-8080', protocol: 'tcp', port: 8080 }], mountPoints: [{ name: 'volume-data', path: '/data' }],
    });
    expect(tarNames(out)).toContain('- rootfs/app.txt');

    const tar = gunzipSync(readFileSync(out));
    const ids = new Set<string>();
    for (const [kind, data] of [['gz', readFileSync(out)], ['bz2', compress(tar, 'bzip2')], ['xz', compress(tar, 'xz')]] as const) {
      const f = join(files, `app-${kind}.aci`);
      writeFileSync(f, data);
      const rec = await store.importImage(f, `aci:${kind}`);
      ids.add(rec.id);
      expect(rec.config).toMatchObject({ cmd: appConfig.Cmd, env: appConfig.Env, workdir: '/www', user: '1000:1000', exposedPorts: ['8080/tcp'], volumes: ['/data'], labels: { maintainer: 'vessel tests' } });
      const r = await store.resolveImage(rec.id);
      expect(readFileSync(join(r.layerDirs[0]!, 'app.txt'), 'utf8')).toBe('top layer\n');
    }
    expect(ids.size).toBe(1);
    // Named by its manifest when no name is given.
    expect((await store.importImage(out, undefined)).tag).toBe('v1');
    // Without its suffix and with a name: imported as a root filesystem until its first member
    // names say otherwise, then as what it is, with nothing of the first attempt left over.
    const bare = join(files, 'app-aci.tar.xz');
    writeFileSync(bare, readFileSync(join(files, 'app-xz.aci')));
    const rec = await store.importImage(bare, 'aci:bare');
    expect(rec.id).toBe([...ids][0]);
    expect(stagingLeft(join(root, 'images'))).toEqual([]);
  });

  it('with a progress bar, every byte of the ACI is counted (read through JavaScript, not by the tool)', async () => {
    for (const kind of ['gz', 'xz'] as const) {
      const f = join(files, `app-${kind}.aci`);
      const seen: number[] = [];
      const rec = await store.importImage(f, `aci:${kind}-bar`, { onProgress: (p) => seen.push(p.done) });
      expect(seen.at(-1)).toBe(statSync(f).size);
      const r = await store.resolveImage(rec.id);
      expect(readFileSync(join(r.layerDirs[0]!, 'app.txt'), 'utf8')).toBe('top layer\n');
    }
  });

  it('stacks an ACI on its dependencies from the store', async () => {
    const f = join(files, 'dep.aci');
    const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'withdep', labels: [{ name: 'version', value: '2' }], dependencies: [{ imageName: 'bb', labels: [{ name: 'version', value: '1' }] }] };
    writeFileSync(f, compress(await makeTar([{ name: 'manifest', content: JSON.stringify(manifest) }, { name: 'rootfs', type: 'directory' }, { name: 'rootfs/extra.txt', content: 'extra\n' }]), 'gzip'));
    const rec = await store.importImage(f, undefined);
    expect(`${rec.name}:${rec.tag}`).toBe('withdep:2');
    const base = await store.resolveImage('bb:1');
    expect(rec.layers.slice(0, -1)).toEqual(base.record.layers);
    const missing = { ...manifest, dependencies: [{ imageName: 'nothere' }] };
    writeFileSync(f, compress(await makeTar([{ name: 'manifest', content: JSON.stringify(missing) }, { name: 'rootfs', type: 'directory' }]), 'gzip'));
    await expect(store.importImage(f, undefined)).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringMatching(/dependency "nothere:latest" is not in the store/) });
  });
});

describe('ISO 9660', () => {
  it('imports an ISO (Rock Ridge) through bsdtar, device nodes and links kept', async () => {
    const tree = join(files, 'isotree');
    mkdirSync(tree);
    sh('tar', ['-xf', join(files, 'busybox.tar'), '-C', tree]);
    const iso = join(files, 'busybox.iso');
    sh('genisoimage', ['-quiet', '-R', '-o', iso, tree]);
    const rec = await store.importImage(iso, 'iso:1');
    const layer = (await store.resolveImage(rec.id)).layerDirs[0]!;
    expect(statSync(join(layer, 'bin/busybox')).size).toBe(statSync(join(tree, 'bin/busybox')).size);
    expect(lstatSync(join(layer, 'bin/sh')).isSymbolicLink()).toBe(true);
    const devNull = lstatSync(join(layer, 'dev/null'));
    expect(devNull.isCharacterDevice()).toBe(true);
    expect(devNull.rdev).toBe(lstatSync('/dev/null').rdev);
  });
});

/** path → type, mode, owner and content (or link target, device) of a tree; dir sizes left out. */
function treeListing(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    const head = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.set(rel, `${head} -> ${sh('readlink', [p]).trim()}`);
    else if (st.isFile()) out.set(rel, `${head} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    else if (st.isDirectory()) {
      out.set(rel, head);
      for (const n of readdirSync(p)) walk(rel ? `${rel}/${n}` : n);
    } else out.set(rel, `${head} dev ${st.rdev}`);
  };
  walk('');
  return out;
}

describe('flattened root (no overlayfs: the FreeBSD fallback)', () => {
  it('applies layers onto a directory exactly as overlayfs merges them', async () => {
    const r = await store.resolveImage('app:v1');
    const flat = join(files, 'flat-app');
    await store.flattenInto(r.record.layers, flat);
    const merged = await store.withMergedRoot(r.record.layers, async (dir) => treeListing(dir));
    const mine = treeListing(flat);
    mine.delete('');
    merged.delete('');
    expect([...mine].sort()).toEqual([...merged].sort());
    expect(existsSync(join(flat, 'www/index.html'))).toBe(false);
    expect(readdirSync(join(flat, 'etc'))).toEqual(['motd']);
  });

  it('never follows a lower layer\'s symlink out of the tree', async () => {
    const victimDir = join(files, 'victim');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'victim'), 'keep me\n');
    const base = await makeTar([{ name: 'a', type: 'symlink', linkname: victimDir }]);
    const top = await makeTar([{ name: 'a', type: 'directory' }, { name: 'a/.wh.victim' }, { name: 'a/new', content: 'inside\n' }]);
    const f = join(files, 'symlink-layers.oci.tar');
    writeFileSync(f, await makeOciArchive({ layers: [base, top], annotations: { 'io.containerd.image.name': 'links:1' } }));
    const rec = await store.importImage(f, undefined);
    const flat = join(files, 'flat-links');
    await store.flattenInto(rec.layers, flat);
    expect(readdirSync(victimDir)).toEqual(['victim']);
    expect(lstatSync(join(flat, 'a')).isDirectory()).toBe(true);
    expect(readdirSync(join(flat, 'a'))).toEqual(['new']);
    // (overlayfs itself lists the whiteout node here: a directory that replaces a lower symlink is
    // not merged, and the kernel reads unmerged directories as they are.)
  });
});

describe('tag, rm, prune', () => {
  it('tags, keeps an image while a tag is left, prunes what nothing uses', async () => {
    await store.tagImage('bb:1', 'bb:alias');
    const id = (await store.resolveImage('bb:1')).record.id;
    expect((await store.resolveImage('bb:alias')).record.id).toBe(id);
    const res = await store.removeImage('bb:alias', { users });
    expect(res.deleted).toBeUndefined();
    expect((await store.resolveImage('bb:1')).record.id).toBe(id);
    const p = await store.pruneImages(users);
    expect(p.images).not.toContain(id);
    // Every blob left is referenced by some image.
    const blobs = readdirSync(join(root, 'images/blobs/sha256'));
    expect(blobs.length).toBeGreaterThan(0);
    expect((await store.pruneImages(users)).blobs).toBe(0);
  });
});
