import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupsIn, containerState, leftovers, pidAlive, processesMentioning, rootWithBusybox, sleep, until, vessel, vesselSpawn, type TestRoot } from '../helpers/vessel.js';

// issue 2, "Must show": jail semantics, wait=main, exec, stop, restart, no leftovers after kill -9.
let t: TestRoot;

beforeAll(async () => {
  t = await rootWithBusybox('life');
});

afterAll(async () => {
  await vessel(t, ['gc']);
  expect(leftovers(t)).toEqual([]);
  t.dispose();
});

type State = { status: string; pid?: number; supervisorPid?: number; restarts: number; lastExit?: { code: number; reason: string } };
const state = (name: string) => containerState(t, name) as State | undefined;

describe('jail semantics', () => {
  it('a daemon outlives its main command; the exit status is the main command\'s', async () => {
    const t0 = Date.now();
    const r = await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'sleep 2 & exit 3']);
    expect(r.code).toBe(3);
    // the container lived until the daemon ended, not until `exit 3`
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
  });

  it('wait = main ends the container with its main command (docker semantics)', async () => {
    const spec = join(t.root, 'main.ini');
    writeFileSync(spec, '[container]\nimage = busybox\ncommand = sh -c "sleep 30 & exit 4"\nwait = main\nrestart = no\n');
    const t0 = Date.now();
    const r = await vessel(t, ['run', '--rm', '--spec', spec]);
    expect(r.code).toBe(4);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(processesMentioning(t.root)).toEqual([]);
  });
});

describe('exec', () => {
  it('sees the container\'s pid namespace and is counted in its cgroups', async () => {
    expect((await vessel(t, ['run', '-d', '--name', 'ex', '--pids', '50', 'busybox', 'sleep', '300'])).code).toBe(0);
    const ps = await vessel(t, ['exec', 'ex', 'ps', '-o', 'pid,comm']);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/^\s*1 vessel-init/m);
    expect(ps.stdout).toMatch(/sleep/);
    // the exec'd process sits in the container's pids cgroup while it runs
    const cg = await vessel(t, ['exec', 'ex', 'sh', '-c', 'cat /proc/self/cgroup']);
    expect(cg.stdout).toMatch(/\/vessel-[0-9a-f]{8}\/ex\.[0-9a-f]+/);
    const env = await vessel(t, ['exec', '-e', 'X=1', '-u', 'app', 'ex', 'sh', '-c', 'echo $X $(id -u) $(hostname)']);
    expect(env.stdout.trim()).toBe('1 1000 ex');
    const code = await vessel(t, ['exec', 'ex', 'sh', '-c', 'exit 9']);
    expect(code.code).toBe(9);
    expect((await vessel(t, ['exec', 'ex', 'nope'])).code).toBe(127);
  });

  it('vessel exec whose helper dies of a signal exits 128 + that signal (SIGABRT → 134, not 137)', async () => {
    const ex = vesselSpawn(t, ['exec', 'ex', 'sh', '-c', 'echo up; sleep 100']);
    await until(() => ex.output().includes('up'), 15_000, 'the exec\'d command to start');
    const exited = new Promise<number | null>((r) => ex.on('exit', (code) => r(code)));
    // vessel-init exec forwards the usual signals to the command; SIGABRT it does not, so the
    // helper itself dies of it and the CLI has to turn that signal into the exit code.
    const helper = readFileSync(`/proc/${ex.pid}/task/${ex.pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
      .find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('vessel-init'));
    expect(helper).toBeDefined();
    process.kill(helper!, 'SIGABRT');
    expect(await exited).toBe(134);
  });

  it('vessel exec ended by SIGTERM exits 143, as a shell reports it (issue 12 item 6)', async () => {
    const ex = vesselSpawn(t, ['exec', 'ex', 'sh', '-c', 'echo up; sleep 100']);
    await until(() => ex.output().includes('up'), 15_000, 'the exec\'d command to start');
    const exited = new Promise<number | null>((r) => ex.on('exit', (code) => r(code)));
    ex.kill('SIGTERM');
    expect(await exited).toBe(143);
  });

  it('stop ends it within the timeout, even when the command ignores SIGTERM', async () => {
    const t0 = Date.now();
    expect((await vessel(t, ['stop', '-t', '1', 'ex'])).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(state('ex')?.status).toBe('exited');
    expect(cgroupsIn(t, 'ex')).toEqual([]);
    expect((await vessel(t, ['rm', 'ex'])).code).toBe(0);

    await vessel(t, ['run', '-d', '--name', 'stubborn', 'busybox', 'sh', '-c', "trap '' TERM; while :; do sleep 1; done"]);
    // run -d returns once the command runs, maybe before its trap: a SIGTERM then ends it at once
    await until(async () => (await vessel(t, ['exec', 'stubborn', 'ps'])).stdout.includes('sleep 1'), 15_000, 'the trap in place');
    const t1 = Date.now();
    expect((await vessel(t, ['stop', '-t', '2', 'stubborn'])).code).toBe(0);
    const took = Date.now() - t1;
    expect(took).toBeGreaterThanOrEqual(1900); // it waited for the timeout, then killed
    expect(state('stubborn')?.lastExit?.code).toBe(137);
    await vessel(t, ['rm', 'stubborn']);
  });
});

describe('detached containers', () => {
  it('--restart always restarts the container after its command dies', async () => {
    expect((await vessel(t, ['run', '-d', '--name', 'phoenix', '--restart', 'always', 'busybox', 'sleep', '300'])).code).toBe(0);
    const first = await until(() => state('phoenix')?.pid, 10_000, 'first start');
    // kill the main command from the host, as a crash would
    const sleepPid = Number(readFileSync(`/proc/${first}/task/${first}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(sleepPid, 'SIGKILL');
    const second = await until(() => {
      const s = state('phoenix');
      return s && s.status === 'running' && s.pid !== first && s.restarts >= 1 ? s : undefined;
    }, 20_000, 'restart');
    expect(second.lastExit?.code).toBe(137);
    const logs = await vessel(t, ['logs', 'phoenix']);
    expect(logs.code).toBe(0);
    expect((await vessel(t, ['stop', 'phoenix'])).code).toBe(0);
    expect(state('phoenix')?.status).toBe('exited');
    // the supervisor does not restart a container that was stopped on purpose: it exits
    await until(() => !pidAlive(second.supervisorPid!), 5000, 'supervisor to exit');
    await sleep(500);
    expect(state('phoenix')?.status).toBe('exited');
    await vessel(t, ['rm', 'phoenix']);
  });

  it('--restart on-failure:2 restarts twice in a row after failures, then gives up (docker\'s meaning, issue 12 item 2)', async () => {
    expect((await vessel(t, ['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3'])).code).toBe(0);
    const done = await until(() => {
      const s = state('flaky');
      return s && s.status === 'exited' && s.supervisorPid !== undefined && !pidAlive(s.supervisorPid) ? s : undefined;
    }, 30_000, 'the supervisor to give up');
    expect(done.lastExit?.code).toBe(3);
    expect(done.restarts).toBe(2);
    expect((await vessel(t, ['logs', 'flaky'])).stdout).toBe('run\nrun\nrun\n');
    await vessel(t, ['rm', 'flaky']);
  });

  it('logs -f follows the output', async () => {
    await vessel(t, ['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.3; done']);
    const r = await vessel(t, ['logs', '-f', 'talker']);
    expect(r.stdout).toBe('line1\nline2\nline3\n');
    await until(() => state('talker')?.status === 'exited');
    await vessel(t, ['rm', 'talker']);
  });
});

describe('no leftovers', () => {
  it('kill -9 of a foreground vessel in the middle of a run takes the container with it', async () => {
    const cli = vesselSpawn(t, ['run', '--name', 'victim', '--memory', '64M', 'busybox', 'sh', '-c', 'sleep 300 & sleep 300']);
    const init = await until(() => state('victim')?.pid, 10_000, 'container start');
    expect(pidAlive(init)).toBe(true);
    cli.kill('SIGKILL');
    await until(() => !pidAlive(init), 5000, 'container init to die');
    await until(() => processesMentioning(t.root).length === 0, 5000, 'no container process');
    // the cgroups are recorded: gc (or the next start) removes them
    expect((await vessel(t, ['gc'])).code).toBe(0);
    expect(cgroupsIn(t, 'victim')).toEqual([]);
    expect(leftovers(t, 'victim')).toEqual([]);
    expect(state('victim')?.status).toBe('exited');
    await vessel(t, ['rm', 'victim']);
  });

  it('kill -9 of a detached supervisor: the container dies, the next start cleans up', async () => {
    await vessel(t, ['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '300']);
    const s = await until(() => state('orphan'), 5000);
    process.kill(s.supervisorPid!, 'SIGKILL');
    await until(() => !pidAlive(s.pid!), 5000, 'container to die with its supervisor');
    const ps = await vessel(t, ['inspect', 'orphan']);
    expect(JSON.parse(ps.stdout)[0].status).toBe('dead');
    expect((await vessel(t, ['rm', 'orphan'])).code).toBe(0);
    expect(leftovers(t, 'orphan')).toEqual([]);
  });
});

describe('ps', () => {
  it('lists running containers; -a adds the exited ones; --json for scripts', async () => {
    await vessel(t, ['run', '-d', '--name', 'ps-up', 'busybox', 'sleep', '300']);
    await vessel(t, ['run', '--name', 'ps-done', 'busybox', 'sh', '-c', 'exit 3']);
    const ps = await vessel(t, ['ps']);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/^ps-up\s+running\s+busybox:latest/m);
    expect(ps.stdout).not.toMatch(/ps-done/);
    expect(ps.stderr).toBe('');
    const all = JSON.parse((await vessel(t, ['ps', '-a', '--json'])).stdout) as { containers: Array<{ name: string; status: string; lastExit?: { code: number } }> };
    const done = all.containers.find((c) => c.name === 'ps-done');
    expect(done?.status).toBe('exited');
    expect(all.containers.find((c) => c.name === 'ps-up')?.status).toBe('running');
    await vessel(t, ['rm', '-f', 'ps-up', 'ps-done']);
  });
});
