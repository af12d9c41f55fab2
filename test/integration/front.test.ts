import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmperorWorld, pidAlive, repo, requireHost, waitFor, type UpProcess } from '../helpers/emperor.js';
import { execAsync, startHttpServer } from '../helpers/registry-servers.js';

/**
 * The `vessel` command's native front end (native/front/) with a real `vessel up` (cli/serve.ts):
 * run, stop and rm served by the warm process, a foreground run's monitor exec'd in the caller's
 * place (supervise/handoff.ts), everything else and every other configuration by the Node CLI.
 * Killed at the worst moments, it leaves nothing that `vessel gc` does not remove.
 */
requireHost();
const front = join(repo, 'build', 'vessel');
const w = new EmperorWorld('front');
let up: UpProcess;
let upPid: number;

beforeAll(async () => {
  if (!existsSync(front)) throw new Error(`${front} is missing: npm run build makes it`);
  w.importBusybox();
  up = await w.up();
  // w.up() returned once its stats socket answered: the process is running, so it has a pid
  upPid = up.child.pid!;
}, 120_000);

afterAll(async () => {
  await w.cleanup();
  expect(w.leftovers()).toEqual({ processes: [], mounts: [], cgroups: [] });
}, 180_000);

function vessel(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(front, args, { env: { ...w.env, ...opts.env }, input: opts.input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function spawnFront(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess & { exit: Promise<number | null> } {
  const c = spawn(front, args, { env: { ...w.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const exit = new Promise<number | null>((res) => c.once('exit', (code, sig) => res(code ?? (sig ? 128 : null))));
  return Object.assign(c, { exit });
}

type State = { status: string; mode?: string; pid?: number; supervisorPid?: number; resources: unknown[]; lastExit?: { code: number } };
const state = (name: string) => w.state(name) as unknown as State | undefined;

describe('served by vessel up', () => {
  it('a foreground run: output, exit code, the reason a command could not start', () => {
    w.names.add('fg1');
    expect(vessel(['run', '--rm', 'busybox', 'echo', 'hi there'])).toMatchObject({ code: 0, stdout: 'hi there\n' });
    expect(vessel(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const missing = vessel(['run', '--rm', '--name', 'fg1', 'busybox', 'nosuchcmd']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^vessel: fg1: .*nosuchcmd/m);
    // --rm: nothing of it is left
    expect(existsSync(join(w.root, 'containers', 'fg1'))).toBe(false);
  });

  it('stdin: -i hands it to the container; without -i the container reads nothing', () => {
    expect(vessel(['run', '--rm', '-i', 'busybox', 'cat'], { input: 'piped\n' })).toMatchObject({ code: 0, stdout: 'piped\n' });
    expect(vessel(['run', '--rm', 'busybox', 'cat'], { input: 'not for you\n' })).toMatchObject({ code: 0, stdout: '' });
  });

  it('the front end becomes the foreground container\'s monitor: supervisor of record, stopped by vessel stop', async () => {
    w.names.add('fg2');
    const c = spawnFront(['run', '--name', 'fg2', 'busybox', 'sleep', '300']);
    const s = await waitFor('fg2 running', () => (state('fg2')?.status === 'running' ? state('fg2') : undefined));
    expect(s.supervisorPid).toBe(c.pid);
    expect(s.mode).toBe('foreground');
    expect(pidAlive(s.pid!)).toBe(true);
    expect(vessel(['stop', '-t', '5', 'fg2'])).toMatchObject({ code: 0, stdout: 'fg2\n' });
    expect(await c.exit).toBe(143);
    expect(state('fg2')).toMatchObject({ status: 'exited', resources: [] });
    expect(vessel(['rm', 'fg2'])).toMatchObject({ code: 0, stdout: 'fg2\n' });
  });

  it('run -d, stop and rm: started by vessel up, its monitor nobody\'s child', async () => {
    w.names.add('bg1');
    expect(vessel(['run', '-d', '--name', 'bg1', 'busybox', 'sleep', '300'])).toMatchObject({ code: 0, stdout: 'bg1\n' });
    const s = state('bg1')!;
    expect(s).toMatchObject({ status: 'running', mode: 'detached' });
    expect(vessel(['run', '-d', '--name', 'bg1', 'busybox', 'true'])).toMatchObject({ code: 125 });
    expect(vessel(['rm', 'bg1']).stderr).toMatch(/^vessel: container bg1 is running/m);
    expect(vessel(['rm', '-f', 'bg1'])).toMatchObject({ code: 0, stdout: 'bg1\n' });
    expect(pidAlive(s.supervisorPid!)).toBe(false);
    expect(existsSync(join(w.root, 'containers', 'bg1'))).toBe(false);
  });

  it('bad flags and missing arguments: the CLI\'s own one-line errors and 125, nothing started', () => {
    const bogus = vessel(['run', '--bogus', 'busybox']);
    expect(bogus.code).toBe(125);
    expect(bogus.stderr).toMatch(/^vessel: unknown option '--bogus'/m);
    expect(vessel(['run']).stderr).toMatch(/^vessel: run: an image is required/m);
    expect(vessel(['run', '--rm', 'no-such-image', 'true']).code).toBe(125);
    // the same words and code as the Node CLI's
    const served = vessel(['stop', 'nobody']);
    expect(served.stderr).toMatch(/^vessel: no such container: nobody/m);
    expect(served).toEqual(vessel(['stop', 'nobody'], { env: { VESSEL_FRONT: 'node' } }));
  });

  it('other commands, other configurations and bytes that are not UTF-8 go to the Node CLI', () => {
    expect(vessel(['images']).stdout).toMatch(/busybox/);
    // another setting: not vessel up's to serve, still done
    expect(vessel(['run', '--rm', 'busybox', 'echo', 'via node'], { env: { VESSEL_REGISTRY: 'file:///nowhere' } })).toMatchObject({ code: 0, stdout: 'via node\n' });
    // An argument that is not UTF-8 (through sh: Node would send it as UTF-8) is the Node CLI's,
    // which reads it as Node does: the same bytes as without the front end.
    const raw = (env: NodeJS.ProcessEnv) => spawnSync('sh', ['-c', `"$0" run --rm busybox printf %s "$(printf 'a\\377b')"`, front], { env: { ...w.env, ...env } });
    const served = raw({});
    expect(served.status).toBe(0);
    expect(Buffer.from(served.stdout).equals(Buffer.from(raw({ VESSEL_FRONT: 'node' }).stdout))).toBe(true);
  });
});

/** The parent of every vessel-tar-gate unpacking into this root now: who is doing it (vessel up, or a Node CLI). */
function gateParents(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'vessel-tar-gate') continue;
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`${w.root}/`)) continue;
      const pp = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))![1]);
      // the gate's own child between fork and exec looks like a gate too: its parent is one
      if (readFileSync(`/proc/${pp}/comm`, 'utf8').trim() !== 'vessel-tar-gate') out.push(pp);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Run the front end, watching which process starts the tar gate while it runs. */
async function watchedFront(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string; gateParents: Set<number>; pid: number }> {
  const c = spawnFront(args, opts);
  let stdout = '';
  let stderr = '';
  c.stdout!.on('data', (b: Buffer) => (stdout += b));
  c.stderr!.on('data', (b: Buffer) => (stderr += b));
  const seen = new Set<number>();
  let running = true;
  void c.exit.then(() => (running = false));
  while (running) {
    for (const p of gateParents()) seen.add(p);
    await new Promise((r) => setImmediate(r));
  }
  return { code: await c.exit, stdout, stderr, gateParents: seen, pid: c.pid! };
}

describe('image import and pull served by vessel up', () => {
  // Random bytes: big enough that the gate is seen while it runs, whatever the machine.
  const data = join(w.root, 'bigdata');
  const tarball = join(data, 'big.tar');
  beforeAll(() => {
    mkdirSync(join(data, 'tree'), { recursive: true });
    spawnSync('sh', ['-c', `head -c 48M /dev/urandom > "$1/tree/blob" && tar -C "$1/tree" -cf "$1/big.tar" .`, 'sh', data]);
  });
  // name, tag and id of every image (not "CREATED … ago", which moves)
  const images = () => spawnSync(process.execPath, [join(repo, 'bin', 'vessel.js'), 'images'], { env: w.env, encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 3).join(' ')).join('\n');

  it('import: unpacked by vessel up, a path relative to the caller\'s directory, the Node CLI\'s output and errors', async () => {
    const r = await watchedFront(['image', 'import', 'big.tar', 'big:served'], { cwd: data });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect([...r.gateParents]).toEqual([upPid]);
    const node = vessel(['image', 'import', tarball, 'big:node'], { env: { VESSEL_FRONT: 'node' } });
    expect(node).toMatchObject({ code: 0, stdout: r.stdout });
    expect(images()).toMatch(/^big served /m);
    const missing = vessel(['image', 'import', join(data, 'nothing.tar'), 'x:1']);
    expect(missing).toEqual(vessel(['image', 'import', join(data, 'nothing.tar'), 'x:1'], { env: { VESSEL_FRONT: 'node' } }));
    expect(missing).toMatchObject({ code: 125, stdout: '' });
    expect(missing.stderr).toMatch(/^vessel: .*nothing\.tar: no such file$/m);
  }, 60_000);

  it('a progress bar on the caller\'s terminal (and none elsewhere)', () => {
    // script(1) gives the front end a terminal; the bar is drawn there, by vessel up
    const r = spawnSync('script', ['-qec', `${front} image import ${tarball} big:tty`, '/dev/null'], { env: w.env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/importing \[/);
    expect(vessel(['image', 'import', tarball, 'big:notty']).stderr).toBe('');
  }, 60_000);

  it('pull: fetched and unpacked by vessel up; another registry environment is the Node CLI\'s', async () => {
    const reg = join(data, 'reg');
    expect(spawnSync(process.execPath, [join(repo, 'bin', 'vessel.js'), 'publish', 'big:served', `file://${reg}`], { env: w.env }).status).toBe(0);
    const r = await watchedFront(['pull', '--as', 'pulled:served', `file://${reg}/big:served`]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^pulled:served sha256:[0-9a-f]{64} \(0 fetched, 1 already here\)\n$/);
    // a store without the layer: prune it, then the pull fetches it
    for (const t of ['big:served', 'big:node', 'big:tty', 'big:notty', 'pulled:served']) vessel(['image', 'rm', t], { env: { VESSEL_FRONT: 'node' } });
    const fetched = await watchedFront(['pull', `file://${reg}/big:served`]);
    expect(fetched).toMatchObject({ code: 0, stderr: '' });
    expect(fetched.stdout).toMatch(/\(1 fetched, 0 already here\)/);
    expect([...fetched.gateParents]).toEqual([upPid]);
    // credentials vessel up does not have: a file:// registry reads none, so the pull is still its
    vessel(['image', 'rm', 'big:served']);
    const strange = await watchedFront(['pull', `file://${reg}/big:served`], { env: { AWS_ACCESS_KEY_ID: 'someone-else', HOME: '/nonexistent' } });
    expect(strange.code).toBe(0);
    expect([...strange.gateParents]).toEqual([upPid]);
    // over http(s) they may matter (proxies, CA files, S3 keys): not its pull to make
    const srv = await startHttpServer({ allowPut: true });
    try {
      // not spawnSync: the server answers from this process's event loop
      await execAsync([process.execPath, join(repo, 'bin', 'vessel.js'), 'publish', 'big:served', `${srv.url}/r`], w.env as Record<string, string>);
      vessel(['image', 'rm', 'big:served']);
      const other = await watchedFront(['pull', `${srv.url}/r/big:served`], { env: { AWS_ACCESS_KEY_ID: 'someone-else' } });
      expect(other.code).toBe(0);
      expect([...other.gateParents]).toEqual([other.pid]);
    } finally {
      await srv.stop();
    }
  }, 120_000);

  it('the caller killed mid-import or mid-pull: nothing half-made is visible, the pull resumes', async () => {
    const before = images();
    const staging = join(w.root, 'images', 'tmp');
    const killWhenGateRuns = async (args: string[]): Promise<void> => {
      const c = spawnFront(args);
      await waitFor('the gate running', () => gateParents().includes(upPid), 30_000, 2);
      c.kill('SIGTERM');
      expect(await c.exit).toBe(128);
      await waitFor('vessel up\'s gate gone', () => !gateParents().includes(upPid), 30_000);
    };
    await killWhenGateRuns(['image', 'import', tarball, 'big:killed']);
    expect(images()).toBe(before);
    await waitFor('import staging dropped', () => !existsSync(staging) || readdirSync(staging).filter((d) => d.startsWith('import-')).length === 0);
    const reg = join(data, 'reg');
    vessel(['image', 'rm', 'big:served']);
    const without = images();
    await killWhenGateRuns(['pull', `file://${reg}/big:served`]);
    expect(images()).toBe(without);
    // what was fetched is kept for the rerun, which completes the image
    const again = vessel(['pull', `file://${reg}/big:served`]);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(images()).toMatch(/^big served /m);
  }, 120_000);

  it('the caller of a pull from a stalled server killed: vessel up lets go at once, and a rerun does not wait for the first one\'s lock', async () => {
    // an image of its own (a layer the store lacks once it is removed), published over http
    const dir = join(data, 'stall');
    mkdirSync(join(dir, 'tree'), { recursive: true });
    spawnSync('sh', ['-c', 'head -c 8M /dev/urandom > "$1/tree/blob" && tar -C "$1/tree" -cf "$1/stall.tar" .', 'sh', dir]);
    // not spawnSync: the server answers from this process's event loop
    const node = (args: string[]) => execAsync([process.execPath, join(repo, 'bin', 'vessel.js'), ...args], w.env as Record<string, string>);
    await node(['image', 'import', join(dir, 'stall.tar'), 'stall:src']);
    const srv = await startHttpServer({ allowPut: true });
    try {
      await node(['publish', 'stall:src', `${srv.url}/s`]);
      await node(['image', 'rm', 'stall:src']);
      // a head and 1 MiB of the layer, then nothing, the connection kept open
      srv.stallGets(1 << 20);
      const first = spawnFront(['pull', `${srv.url}/s/stall:src`]);
      await waitFor('the layer stalled', () => srv.stalledOpen() === 1, 30_000);
      // served: vessel up's gate is unpacking it (a Node CLI would go with its killed caller)
      await waitFor('vessel up unpacking the layer', () => gateParents().includes(upPid), 30_000);
      first.kill('SIGTERM');
      expect(await first.exit).toBe(128);
      // the download is cut at once, not after the connection's 60 s timeout
      await waitFor('the stalled download cut', () => srv.stalledOpen() === 0, 10_000);
      await waitFor('vessel up\'s gate gone', () => !gateParents().includes(upPid), 10_000);
      srv.stallGets(undefined);
      const started = Date.now();
      const again = await watchedFront(['pull', `${srv.url}/s/stall:src`]);
      expect(again).toMatchObject({ code: 0, stderr: '' });
      expect(again.stdout).toMatch(/^stall:src sha256:[0-9a-f]{64} \(1 fetched, 0 already here\)\n$/);
      expect(Date.now() - started).toBeLessThan(30_000);
      // what the first one fetched was kept: the rerun asked only for the rest
      const gets = srv.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/') && q.range !== undefined);
      expect(gets).toHaveLength(1);
      expect(gets[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    } finally {
      await srv.stop();
    }
  }, 120_000);
});

describe('killed at the worst moment', () => {
  it('the front end (now the monitor) SIGKILLed mid-run: the container dies with it, gc removes the rest', async () => {
    w.names.add('k1');
    const c = spawnFront(['run', '--name', 'k1', 'busybox', 'sleep', '300']);
    const s = await waitFor('k1 running', () => (state('k1')?.status === 'running' ? state('k1') : undefined));
    process.kill(c.pid!, 'SIGKILL');
    await c.exit;
    await waitFor('k1\'s init gone', () => !pidAlive(s.pid!));
    expect(spawnSync(process.execPath, [join(repo, 'bin', 'vessel.js'), 'gc'], { env: w.env }).status).toBe(0);
    expect(w.leftoverCgroups().filter((d) => d.includes('/k1.'))).toEqual([]);
    expect(w.leftoverMounts().filter((l) => l.includes('/k1/'))).toEqual([]);
    expect(vessel(['rm', 'k1']).code).toBe(0);
  });

  it('vessel up SIGKILLed while a handed-off run runs: it goes on, and its end is released without vessel up', async () => {
    w.names.add('k2');
    const c = spawnFront(['run', '--name', 'k2', 'busybox', 'sh', '-c', 'sleep 3; exit 5']);
    await waitFor('k2 running', () => state('k2')?.status === 'running');
    up.child.kill('SIGKILL');
    await up.exited;
    expect(await c.exit).toBe(5);
    // `vessel _release k2`, run by the monitor, finishes in its own time
    await waitFor('k2 released', () => state('k2')?.status === 'exited' && state('k2')!.resources.length === 0, 20_000);
    expect(w.leftoverCgroups().filter((d) => d.includes('/k2.'))).toEqual([]);
    expect(w.leftoverMounts().filter((l) => l.includes('/k2/'))).toEqual([]);
    // without vessel up the front end runs the Node CLI
    expect(vessel(['rm', 'k2'])).toMatchObject({ code: 0, stdout: 'k2\n' });
    expect(vessel(['run', '--rm', 'busybox', 'echo', 'still works'])).toMatchObject({ code: 0, stdout: 'still works\n' });
    // the Emperor of the killed vessel up: stopped for the cleanup's sake
    for (const { pid, cmd } of w.leftoverProcesses()) if (cmd.includes('uwsgi')) process.kill(pid, 'SIGKILL');
  }, 60_000);
});
