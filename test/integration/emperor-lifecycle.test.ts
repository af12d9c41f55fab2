import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmperorWorld, environ, pidAlive, requireHost, serviceSpec, waitFor, type UpProcess } from '../helpers/emperor.js';

// Drop, edit, kill, finish, reject and delete specs under one real `vessel up` (real uWSGI).
requireHost();
const w = new EmperorWorld('emp-life');
let up: UpProcess;

beforeAll(async () => {
  w.importBusybox();
  up = await w.up();
});

afterAll(async () => {
  await w.cleanup();
});

function envOf(name: string, key: string): string | undefined {
  const pid = w.processOf(name, 'sleep');
  return pid === undefined ? undefined : environ(pid)[key];
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

function httpGet(port: number): Promise<number> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('error', rej);
    req.end();
  });
}

describe('vessel up: a spec becomes a supervised container', () => {
  it('drop a spec → its container runs; vessel ps shows it loyal after min_uptime', async () => {
    w.drop('el-web', serviceSpec(['env[] = GREETING=hello']));
    const pid = await w.running('el-web');
    expect(pidAlive(pid)).toBe(true);
    await waitFor('el-web sleep process', () => w.processOf('el-web', 'sleep'));
    expect(envOf('el-web', 'GREETING')).toBe('hello');
    const row = await waitFor('el-web loyal in vessel ps', () => {
      const r = w.ps().containers.find((c) => c.name === 'el-web');
      return r?.vassal?.loyal ? r : undefined;
    });
    expect(row).toMatchObject({ kind: 'container', status: 'running', image: 'busybox:latest', pid, restarts: 0 });
    expect(row.vassal).toMatchObject({ ready: true, accepting: true, stopping: false });
    expect(row.vassal!.heartbeatAgeSec).toBeGreaterThanOrEqual(0);
    expect(row.throttleMs).toBeUndefined();
    const text = w.vessel(['ps']).stdout;
    expect(text).toMatch(/^NAME\s+STATUS/);
    expect(text).toMatch(/el-web\s+running\s+busybox:latest/);
  });

  it('edit the spec → the container runs with the new value; two edits within one second both take effect', async () => {
    const before = w.state('el-web')!;
    w.drop('el-web', serviceSpec(['env[] = GREETING=bonjour']));
    await waitFor('GREETING=bonjour', () => envOf('el-web', 'GREETING') === 'bonjour');
    const mtime1 = statSync(join(w.emperorDir, 'el-web.vessel')).mtimeMs;
    // Back to back: uWSGI compares whole seconds; the watcher must still get both through.
    w.drop('el-web', serviceSpec(['env[] = GREETING=hallo']));
    w.drop('el-web', serviceSpec(['env[] = GREETING=ciao']));
    await waitFor('GREETING=ciao', () => envOf('el-web', 'GREETING') === 'ciao');
    expect(statSync(join(w.emperorDir, 'el-web.vessel')).mtimeMs).toBeGreaterThan(mtime1);
    // Reloaded in place: the same vassal process, a new container.
    const after = w.state('el-web')!;
    expect(after.pid).not.toBe(before.pid);
    expect(after.supervisorPid).toBe(before.supervisorPid);
  });

  it('an unchanged spec (touch, same content) does not restart the container', async () => {
    const pid = await w.running('el-web');
    const file = join(w.vassals, 'el-web.ini');
    const t = new Date(Date.now() + 5000);
    utimesSync(file, t, t);
    writeFileSync(file, serviceSpec(['env[] = GREETING=ciao']));
    await sleep(1500);
    expect(w.state('el-web')!.pid).toBe(pid);
    expect(pidAlive(pid)).toBe(true);
  });

  it('kill the container\'s main process → a new container runs and the restart count went up', async () => {
    await waitFor('el-web loyal', async () => w.vassal(await w.fetchStats(), 'el-web')?.loyal === 1);
    const before = w.state('el-web')!;
    const main = w.processOf('el-web', 'sleep')!;
    process.kill(main, 'SIGKILL');
    const pid = await w.running('el-web', { not: before.pid! });
    expect(pid).not.toBe(before.pid);
    const after = w.state('el-web')!;
    expect(after.restarts).toBeGreaterThan(before.restarts);
    expect(after.lastExit?.reason).toMatch(/SIGKILL|137|killed/);
    // Respawned by the Emperor: a new vassal process.
    expect(after.supervisorPid).not.toBe(before.supervisorPid);
  });

  it('a daemonizing command keeps the container up until the daemon exits', async () => {
    w.drop('el-daemon', serviceSpec(['restart = no'], "sh -c 'sleep 4 & exit 0'"));
    await w.running('el-daemon');
    await waitFor('the daemon', () => w.processOf('el-daemon', 'sleep 4'));
    // The shell is long gone; the daemon keeps the container running.
    await sleep(2000);
    expect(w.state('el-daemon')!.status).toBe('running');
    expect(w.processOf('el-daemon', 'sh')).toBeUndefined();
    await waitFor('el-daemon exited', () => w.state('el-daemon')!.status === 'exited', 15_000);
    expect(w.state('el-daemon')!.lastExit?.code).toBe(0);
  });

  it('restart = no / on-failure after exit 0: the vassal stays up idle, the container stays exited', async () => {
    w.drop('el-once', serviceSpec(['restart = on-failure'], "sh -c 'echo done'"));
    await waitFor('el-once exited', () => w.state('el-once')?.status === 'exited');
    const st = w.state('el-once')!;
    const vassal = w.vassal(await w.fetchStats(), 'el-once');
    expect(vassal).toBeDefined();
    await sleep(2500);
    const later = w.state('el-once')!;
    expect(later.restarts).toBe(st.restarts);
    expect(later.status).toBe('exited');
    expect(w.vassal(await w.fetchStats(), 'el-once')?.pid).toBe(vassal!.pid);
    expect(pidAlive(vassal!.pid)).toBe(true);
    const row = w.ps().containers.find((c) => c.name === 'el-once')!;
    expect(row.status).toBe('exited');
    expect(row.lastExit).toMatch(/0/);
    // The daemon container of the test above is idle the same way (restart = no).
    expect(w.state('el-daemon')!.status).toBe('exited');
  });

  it('restart = on-failure:1: one respawn after a failure, then idle; a changed spec starts the count over (issue 12 item 2)', async () => {
    const runs = () => (existsSync(join(w.root, 'containers', 'el-flaky', 'container.log')) ? readFileSync(join(w.root, 'containers', 'el-flaky', 'container.log'), 'utf8').split('\n').filter((l) => l === 'run').length : 0);
    const given = async (want: number) => {
      await waitFor(`el-flaky to have run ${want} times and stay exited`, () => w.state('el-flaky')?.status === 'exited' && runs() === want, 30_000);
      await sleep(3000); // longer than the Emperor's throttle: no further respawn comes
      expect(runs()).toBe(want);
      expect(w.state('el-flaky')!.status).toBe('exited');
    };
    w.drop('el-flaky', serviceSpec(['restart = on-failure:1'], "sh -c 'echo run; exit 3'"));
    await given(2); // the first run and one restart
    expect(w.state('el-flaky')!.lastExit?.code).toBe(3);
    // A new spec is a new count: the reload's start is not a restart (it was, under the Emperor, before).
    w.drop('el-flaky', serviceSpec(['restart = on-failure:1', 'env[] = V=2'], "sh -c 'echo run; exit 3'"));
    await given(4);
    w.remove('el-flaky');
    await waitFor('el-flaky removed', () => w.state('el-flaky') === undefined);
  });

  it('a finished container starts again when its spec changes (same vassal)', async () => {
    const vassal = w.state('el-once')!.supervisorPid;
    w.drop('el-once', serviceSpec(['restart = on-failure']));
    const pid = await w.running('el-once');
    expect(pidAlive(pid)).toBe(true);
    expect(w.state('el-once')!.supervisorPid).toBe(vassal);
    w.remove('el-once');
    await waitFor('el-once removed', () => w.state('el-once') === undefined);
  });

  it('a bad spec → error in vessel ps, other containers unaffected, an earlier valid version keeps running', async () => {
    w.drop('el-other', serviceSpec());
    const otherPid = await w.running('el-other');
    const webPid = await w.running('el-web');
    const rendered = join(w.emperorDir, 'el-web.vessel');
    const mtime = statSync(rendered).mtimeMs;

    w.drop('el-web', '[container]\nimage = busybox:latest\ncommand = sleep 1\nbogus_key = 1\n');
    w.drop('el-broken', '[container]\ncommand = sleep 1\n');
    const web = await waitFor('el-web error in ps', () => w.ps().containers.find((c) => c.name === 'el-web' && c.error));
    expect(web.error).toMatch(/el-web\.ini:4: \[container\] bogus_key: unknown key/);
    expect(web.status).toBe('running');
    const broken = await waitFor('el-broken error in ps', () => w.ps().containers.find((c) => c.name === 'el-broken' && c.error));
    expect(broken.error).toMatch(/el-broken\.ini: \[container\] image: missing/);
    expect(existsSync(join(w.emperorDir, 'el-broken.vessel'))).toBe(false);
    expect(w.vessel(['ps']).stdout).toMatch(/el-broken.*image: missing/);

    await sleep(1500);
    expect(statSync(rendered).mtimeMs).toBe(mtime);
    expect(w.state('el-web')!.pid).toBe(webPid);

    // A spec that parses but could never start (its image is not in the store) is rejected too:
    // the running version is not stopped for it.
    w.drop('el-web', '[container]\nimage = nosuchimage:1\ncommand = sleep 100\n');
    const missing = await waitFor('missing image error in ps', () => w.ps().containers.find((c) => c.name === 'el-web' && /nosuchimage/.test(c.error ?? '')));
    expect(missing.error).toMatch(/el-web\.ini: \[container\] image: image "nosuchimage:1" not found/);
    await sleep(1500);
    expect(statSync(rendered).mtimeMs).toBe(mtime);
    expect(w.state('el-web')!.pid).toBe(webPid);
    expect(pidAlive(webPid)).toBe(true);
    expect(w.state('el-other')!.pid).toBe(otherPid);
    expect(pidAlive(otherPid)).toBe(true);

    // Fixed again: the error goes away.
    w.drop('el-web', serviceSpec(['env[] = GREETING=fixed']));
    await waitFor('GREETING=fixed', () => envOf('el-web', 'GREETING') === 'fixed');
    await waitFor('error cleared', () => w.ps().containers.find((c) => c.name === 'el-web' && c.error === undefined));
    w.remove('el-broken');
    await waitFor('el-broken gone from ps', () => !w.ps().containers.some((c) => c.name === 'el-broken'));
  });

  it('an ordinary uWSGI .ini vassal in the same Emperor directory keeps working', async () => {
    const port = await freePort();
    const ini = ['[uwsgi]', `http-socket = 127.0.0.1:${port}`, 'master = true', 'processes = 1', 'route-run = return:200', ''].join('\n');
    writeFileSync(join(w.root, 'plain.ini.tmp'), ini);
    renameSync(join(w.root, 'plain.ini.tmp'), join(w.emperorDir, 'plain.ini'));
    expect(await waitFor('uwsgi vassal answers', () => httpGet(port).catch(() => undefined))).toBe(200);
    const v = await waitFor('plain.ini in stats', async () => (await w.fetchStats())?.vassals.find((x) => x.id === 'plain.ini'));
    expect(v.ready).toBe(1);
    const row = w.ps().containers.find((c) => c.name === 'plain')!;
    expect(row.kind).toBe('vassal');
    // Containers beside it are unaffected.
    expect(pidAlive(w.state('el-other')!.pid!)).toBe(true);
  });

  it('rename the spec to .ini.off → the container is stopped', async () => {
    const pid = await w.running('el-other');
    renameSync(join(w.vassals, 'el-other.ini'), join(w.vassals, 'el-other.ini.off'));
    await waitFor('el-other stopped', () => !pidAlive(pid));
    await waitFor('el-other.vessel removed', () => !existsSync(join(w.emperorDir, 'el-other.vessel')));
    await waitFor('el-other state removed', () => w.state('el-other') === undefined);
  });

  it('delete the spec → the container is stopped and nothing is left (processes, mounts, cgroups, state)', async () => {
    const pid = await w.running('el-web');
    const vassalPid = w.state('el-web')!.supervisorPid!;
    w.remove('el-web');
    await waitFor('el-web vassal gone', () => !pidAlive(vassalPid));
    // The container's init may still be being reaped when its vassal has just exited.
    await waitFor('el-web container gone', () => !pidAlive(pid), 5000);
    expect(w.state('el-web')).toBeUndefined();
    expect(existsSync(join(w.root, 'containers', 'el-web'))).toBe(false);
    expect(w.leftoverCgroups().filter((c) => c.includes('/el-web.'))).toEqual([]);
    expect(w.leftoverMounts().filter((m) => m.includes('/el-web/'))).toEqual([]);
    expect(w.leftoverProcesses().filter((p) => p.pid === pid)).toEqual([]);
    // The Emperor lists the vassal until it has reaped it.
    await waitFor('el-web gone from vessel ps', () => !w.ps().containers.some((c) => c.name === 'el-web'), 5000);
  });

  it('vessel up then SIGTERM → everything stopped, exit 0, nothing left', async () => {
    const code = await w.down(up);
    expect(code).toBe(0);
    expect(w.leftovers()).toEqual({ processes: [], mounts: [], cgroups: [] });
  });
});
