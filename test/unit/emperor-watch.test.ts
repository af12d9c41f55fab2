import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The watcher against real directories (chokidar/inotify) and a stand-in stats socket that
// counts pokes; recordError writes under this private root.
const root = mkdtempSync(join(tmpdir(), 'vessel-emperor-watch-'));
process.env.VESSEL_ROOT = root;
const vassals = join(root, 'vassals');
const emperorDir = join(root, 'emperor.d');
const sock = join(root, 'stats.sock');
mkdirSync(vassals, { recursive: true });
mkdirSync(emperorDir, { recursive: true });

type Watch = typeof import('../../src/emperor/watch.js');
let mod: Watch;
let watcher: InstanceType<Watch['SpecWatcher']>;
let server: Server;
let pokes = 0;

const spec = (env: string) => `[container]\nimage = busybox\ncommand = sleep 100\nenv[] = X=${env}\n`;

function drop(file: string, text: string): void {
  const tmp = join(root, `.${file}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(vassals, file));
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rendered = (name: string) => join(emperorDir, `${name}.vessel`);
const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
const errorOf = (name: string) => read(join(root, 'errors', `${name}.txt`))?.trim();

beforeAll(async () => {
  mod = await import('../../src/emperor/watch.js');
  server = createServer((c) => {
    pokes++;
    c.end('{"vassals":[]}');
  });
  await new Promise<void>((res) => server.listen(sock, () => res()));
  // Left by an earlier run: one from this directory whose spec is gone, one from elsewhere,
  // one written by hand.
  writeFileSync(rendered('gone'), `${mod.RENDERED_MARK}${join(vassals, 'gone.ini')}\n[container]\n`);
  writeFileSync(rendered('elsewhere'), `${mod.RENDERED_MARK}/srv/other/elsewhere.ini\n[container]\n`);
  writeFileSync(rendered('manual'), '[container]\nimage = busybox\n');
  drop('pre.ini', spec('pre'));
  // no image store here: every spec counts as startable (the integration tests use the real check)
  watcher = new mod.SpecWatcher({ vassalsDir: vassals, emperorDir, statsSocket: sock, check: async () => undefined });
  await watcher.start();
});

afterAll(async () => {
  await watcher?.close();
  await new Promise<void>((res) => server.close(() => res()));
  rmSync(root, { recursive: true, force: true });
});

describe('pure helpers', () => {
  it('names specs: NAME.ini only', () => {
    expect(mod.specName('/x/web.ini')).toBe('web');
    expect(mod.specName('/x/web.ini.off')).toBeUndefined();
    expect(mod.specName('/x/.web.ini')).toBeUndefined();
    expect(mod.specName('/x/web.ini.swp')).toBeUndefined();
    expect(mod.specName('/x/.ini')).toBeUndefined();
  });

  it('moves mtime forward by whole seconds (uWSGI bug 1)', () => {
    expect(mod.nextMtime(undefined, 100_700).getTime()).toBe(100_000);
    expect(mod.nextMtime(100_000, 100_700).getTime()).toBe(101_000);
    expect(mod.nextMtime(101_000, 100_900).getTime()).toBe(102_000);
    expect(mod.nextMtime(50_000, 100_200).getTime()).toBe(100_000);
  });
});

describe('SpecWatcher', () => {
  it('at start: renders existing specs, removes orphans it rendered, keeps hand-made files', () => {
    expect(read(rendered('pre'))).toMatch(new RegExp(`^${mod.RENDERED_MARK}${join(vassals, 'pre.ini')}\n# vessel container spec "pre"`));
    expect(existsSync(rendered('gone'))).toBe(false);
    expect(existsSync(rendered('elsewhere'))).toBe(false);
    expect(existsSync(rendered('manual'))).toBe(true);
  });

  it('add → NAME.vessel (normalized) and a poke of the stats socket', async () => {
    const before = pokes;
    drop('web.ini', spec('one'));
    const text = await until('web.vessel', () => read(rendered('web')));
    expect(text).toMatch(/^env\[\] = X=one$/m);
    expect(text).toMatch(/^restart = always$/m);
    await until('poke', () => pokes > before);
  });

  it('two edits within one second: both land, each with a later whole-second mtime', async () => {
    const m0 = statSync(rendered('web')).mtimeMs;
    drop('web.ini', spec('two'));
    await until('two', () => read(rendered('web'))?.includes('X=two'));
    const m1 = statSync(rendered('web')).mtimeMs;
    drop('web.ini', spec('three'));
    await until('three', () => read(rendered('web'))?.includes('X=three'));
    const m2 = statSync(rendered('web')).mtimeMs;
    expect(m1).toBeGreaterThanOrEqual(m0 + 1000);
    expect(m2).toBeGreaterThanOrEqual(m1 + 1000);
    expect(m2 % 1000).toBe(0);
  });

  it('same content again: the rendered file is not touched', async () => {
    const m = statSync(rendered('web')).mtimeMs;
    const events: string[] = [];
    watcher.on('event', (e) => events.push(`${e.kind}:${e.name}`));
    drop('web.ini', spec('three'));
    await until('unchanged event', () => events.includes('unchanged:web'));
    expect(statSync(rendered('web')).mtimeMs).toBe(m);
  });

  it('invalid → one error recorded, rendered file untouched; fixed → error cleared', async () => {
    const before = read(rendered('web'));
    drop('web.ini', '[container]\nimage = busybox\nmemroy = 1\n');
    const err = await until('error recorded', () => errorOf('web'));
    expect(err).toBe(`${join(vassals, 'web.ini')}:3: [container] memroy: unknown key`);
    expect(read(rendered('web'))).toBe(before);
    drop('web.ini', spec('four'));
    await until('four', () => read(rendered('web'))?.includes('X=four'));
    await until('error cleared', () => errorOf('web') === undefined);
  });

  it('a new invalid spec is never rendered', async () => {
    drop('bad.ini', '[container]\ncommand = true\n');
    expect(await until('error', () => errorOf('bad'))).toMatch(/bad\.ini: \[container\] image: missing/);
    expect(existsSync(rendered('bad'))).toBe(false);
  });

  it('a deleted spec whose container no vassal supervises: its state goes too', async () => {
    drop('old.ini', spec('old'));
    await until('old rendered', () => existsSync(rendered('old')));
    const dir = join(root, 'containers', 'old');
    mkdirSync(dir, { recursive: true });
    const { defaultSpec } = await import('../../src/spec/index.js');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({
      name: 'old', spec: defaultSpec('old', 'busybox:latest', 'file'), status: 'exited', mode: 'vassal',
      supervisorPid: 2 ** 22 + 1, runId: 'r', createdAt: new Date().toISOString(), restarts: 0, resources: [], autoRemove: false,
    }));
    rmSync(join(vassals, 'old.ini'));
    await until('old state removed', () => !existsSync(dir));
    expect(existsSync(rendered('old'))).toBe(false);
  });

  it('depends_on on a spec that is not in the directory: rejected, never rendered; the spec appearing lets it through', async () => {
    const dep = (deps: string[], extra = '') => `[container]\nimage = busybox\ncommand = sleep 100\n${deps.map((d) => `depends_on[] = ${d}\n`).join('')}${extra}`;
    drop('front.ini', dep(['store']));
    expect(await until('front rejected', () => errorOf('front'))).toBe(
      `${join(vassals, 'front.ini')}: [container] depends_on: "store": no store.ini in ${vassals}`);
    expect(existsSync(rendered('front'))).toBe(false);
    drop('store.ini', dep([], '\n[health]\ncommand = true\n'));
    await until('store rendered', () => existsSync(rendered('store')));
    await until('front rendered once store exists', () => existsSync(rendered('front')));
    expect(errorOf('front')).toBeUndefined();
    // healthy on a dependency whose spec drops its health check: a set error again
    drop('front.ini', dep(['store:healthy']));
    await until('front healthy accepted', () => read(rendered('front'))?.includes('depends_on[] = store:healthy'));
    drop('store.ini', dep([]));
    expect(await until('front refused', () => errorOf('front'))).toContain('store:healthy: ' + join(vassals, 'store.ini') + ' has no health check');
    // the file keeps what was last accepted: the running container is left alone
    expect(read(rendered('front'))).toContain('depends_on[] = store:healthy');
    rmSync(join(vassals, 'front.ini'));
    rmSync(join(vassals, 'store.ini'));
    await until('both gone', () => !existsSync(rendered('front')) && !existsSync(rendered('store')) && errorOf('front') === undefined);
  });

  it('a dependency cycle: every spec on it is rejected with the files named, nothing rendered; breaking it renders both', async () => {
    const dep = (d: string) => `[container]\nimage = busybox\ncommand = sleep 100\ndepends_on[] = ${d}\n`;
    // written together, before the watcher reads either: neither may ever reach the Emperor
    writeFileSync(join(root, '.cy1'), dep('cyb'));
    writeFileSync(join(root, '.cy2'), dep('cya'));
    renameSync(join(root, '.cy1'), join(vassals, 'cya.ini'));
    renameSync(join(root, '.cy2'), join(vassals, 'cyb.ini'));
    const cycle = `a dependency cycle: ${join(vassals, 'cya.ini')} → ${join(vassals, 'cyb.ini')} → ${join(vassals, 'cya.ini')}`;
    expect(await until('cya rejected', () => errorOf('cya'))).toBe(`${join(vassals, 'cya.ini')}: [container] depends_on: ${cycle}`);
    expect(await until('cyb rejected', () => errorOf('cyb'))).toBe(`${join(vassals, 'cyb.ini')}: [container] depends_on: ${cycle}`);
    await new Promise((r) => setTimeout(r, 400));
    expect(existsSync(rendered('cya')) || existsSync(rendered('cyb'))).toBe(false);
    drop('cyb.ini', '[container]\nimage = busybox\ncommand = sleep 100\n');
    await until('both rendered', () => existsSync(rendered('cya')) && existsSync(rendered('cyb')));
    await until('errors cleared', () => errorOf('cya') === undefined && errorOf('cyb') === undefined);
    rmSync(join(vassals, 'cya.ini'));
    rmSync(join(vassals, 'cyb.ini'));
    await until('cycle specs gone', () => !existsSync(rendered('cya')) && !existsSync(rendered('cyb')));
  });

  it('rename to NAME.ini.off, delete, move out → NAME.vessel removed (and the error with it)', async () => {
    renameSync(join(vassals, 'web.ini'), join(vassals, 'web.ini.off'));
    await until('web removed', () => !existsSync(rendered('web')));
    renameSync(join(vassals, 'web.ini.off'), join(vassals, 'web.ini'));
    await until('web back', () => existsSync(rendered('web')));
    renameSync(join(vassals, 'web.ini'), join(root, 'web.ini'));
    await until('web moved out', () => !existsSync(rendered('web')));
    rmSync(join(vassals, 'pre.ini'));
    await until('pre removed', () => !existsSync(rendered('pre')));
    rmSync(join(vassals, 'bad.ini'));
    await until('bad error cleared', () => errorOf('bad') === undefined);
    expect(existsSync(rendered('manual'))).toBe(true);
  });
});
