import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * A zero-downtime reload on a (model) FreeBSD host, through vessel up's real code: the requests the
 * container's native monitor sends in a surge (native/common/monitor.c surge_actions, run for real
 * against the kernel double in freebsd-native.test.ts) handed to the vassal's session
 * (emperor/vassal.ts → supervise/surge.ts → the jail driver and net/'s FreeBSD backend), every
 * host command recorded by the model host (test/helpers/freebsd-e2e.ts) and compared with
 * test/fixtures/freebsd/e2e-surge*. The next run is a second jail with names of its own
 * (`web@RUNID`, runtime/freebsd/names.ts) beside the first; its published ports move in one pf
 * transaction; the old jail goes with every name it had. A rollback leaves the old jail and its
 * rdr untouched. A SIGKILL of vessel up (and so the monitor) before any host command of the
 * reload leaves nothing that `vessel gc` or the next start does not remove.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-surge-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'freebsd';
process.env.VESSEL_LOG_LEVEL = 'error';
delete process.env.VESSEL_EXT_IF;
delete process.env.VESSEL_NETWORK_POOL;
delete process.env.VESSEL_NETWORK_PREFIX;
process.env.VESSEL_NETWORK_ULA = 'fd00:77::/48';
afterAll(() => rmSync(root, { recursive: true, force: true }));

import { setHostRunner, type HostOptions, type HostResult } from '../../src/util/host.js';
import { config, log } from '../../src/util/index.js';
import { VassalSession } from '../../src/emperor/vassal.js';
import { gc, removeContainer } from '../../src/supervise/gc.js';
import { readRawState } from '../../src/supervise/state.js';
import { listLeases, listNetworkInfo } from '../../src/net/index.js';
import { epairNames } from '../../src/runtime/freebsd/names.js';
import type { Reply, Request } from '../../src/service/index.js';
import { expectGolden, normalizeRoot } from '../helpers/freebsd.js';
import { LiveFreeBSD, importModelImage } from '../helpers/freebsd-e2e.js';

/**
 * The model host, SIGKILLable: from call number `freezeAt` on, no host command returns — what a
 * SIGKILLed vessel up leaves is exactly what the commands before it made (and what it recorded).
 */
class KillableFreeBSD extends LiveFreeBSD {
  freezeAt = Infinity;
  /** Freeze right after the first command this picks has run. */
  freezeAfter: ((argv: string[]) => boolean) | undefined;
  frozen: Promise<void>;
  private onFrozen!: () => void;

  constructor() {
    super();
    this.frozen = new Promise((res) => (this.onFrozen = res));
  }

  override async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    if (this.calls.length >= this.freezeAt) {
      this.onFrozen();
      return new Promise<HostResult>(() => undefined);
    }
    const r = await super.run(argv, opts);
    if (this.freezeAfter?.([...argv])) {
      this.freezeAfter = undefined;
      this.freezeAt = this.calls.length;
    }
    return r;
  }
}

const vassals = join(root, 'emperor');
mkdirSync(vassals, { recursive: true });
const file = join(vassals, 'web.vessel');

beforeAll(() => importModelImage(root));

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

function install(): KillableFreeBSD {
  const fake = new KillableFreeBSD();
  restore = setHostRunner(fake);
  return fake;
}

/** A published web server with limits, a portacl rule and a health check: every kind of FreeBSD object a reload has twice. */
function spec(version: number): string {
  return [
    '[container]', 'image = busybox:latest', 'command = /bin/httpd -f -p 80 -h /www', `env[] = VERSION=${version}`, 'user = www', 'stop_timeout = 5',
    '[network]', 'name = front', 'publish[] = 8080:80',
    '[limits]', 'memory = 64M', 'maxproc = 50',
    '[security]', 'portacl[] = tcp:80',
    '[health]', 'command = /bin/true', 'interval = 1s', 'timeout = 1s', 'retries = 1',
    '',
  ].join('\n');
}

/** A pid that is certainly not running: the monitor of record is never this test. */
function deadPid(): number {
  return spawnSync('true').pid ?? 999_999_999;
}

function session(): VassalSession {
  return new VassalSession({
    pid: deadPid(), file, service: '/var/run/vessel/vessel.sock', heartbeatMs: 10_000, log: log(), onRespawn: () => undefined, shuttingDown: () => false,
  });
}

async function ask(s: VassalSession, req: Request): Promise<Reply> {
  return s.handle(req);
}

/** The next run's id as its state records it (random per reload). */
async function nextRun(): Promise<string> {
  const run = (await readRawState('web'))?.next?.runId;
  if (run === undefined) throw new Error('no reload under way');
  return run;
}

/** Per-test root, random run ids and the names made of them, the image digest: stable text. */
function norm(text: string, run?: string): string {
  let t = normalizeRoot(text, root).replace(/layers\/[0-9a-f]{64}/g, 'layers/<diffid>').replace(/^( {2}\| run-id )[0-9a-f]{8}$/gm, '$1<run>');
  if (run !== undefined) {
    const ep = epairNames(`web@${run}`);
    t = t.split(ep.host).join('vsl<next>a').split(ep.jail).join('vsl<next>b').split(run).join('<next>');
  }
  return t;
}

/** The running container, its spec changed, the reload answered "surge" (as the monitor sees it). */
async function runningThenChanged(fake: KillableFreeBSD): Promise<VassalSession> {
  writeFileSync(file, spec(1));
  const s = session();
  const plan = await ask(s, { verb: 'prepare' });
  expect(plan).toEqual({ kind: 'plan', path: join(root, 'containers', 'web', 'plan') });
  expect(await ask(s, { verb: 'started', run: 0, initPid: 4242 })).toEqual({ kind: 'ok' });
  expect([...fake.jails.keys()]).toEqual(['web']);
  writeFileSync(file, spec(2));
  expect(await ask(s, { verb: 'reload' })).toEqual({ kind: 'surge' });
  return s;
}

function nothingLeft(fake: KillableFreeBSD): void {
  expect(fake.leftovers()).toEqual({});
  expect(fake.portacl).toBe('');
}

async function noRecordsLeft(): Promise<void> {
  expect(await listLeases()).toEqual([]);
  expect(await listNetworkInfo()).toEqual([]);
  const dir = join(root, 'containers', 'web');
  expect(existsSync(dir) ? readdirSync(dir).filter((e) => e.startsWith('next-') || e === 'plan.next') : []).toEqual([]);
  const st = await readRawState('web');
  expect(st?.next).toBeUndefined();
  expect(st?.resources ?? []).toEqual([]);
}

const rdrLines = (text: string | undefined) => (text ?? '').split('\n').filter((l) => l.startsWith('rdr '));

describe('FreeBSD zero-downtime reload: a second jail beside the first (model host)', () => {
  it('full surge: the new jail beside the old one, its ports switched in one pf load, the old jail and every name of it released', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    const oldRdr = fake.anchors.get('vessel-rdr/web');
    expect(rdrLines(oldRdr)).toHaveLength(2); // inet and inet6

    expect(await ask(s, { verb: 'prepare-next' })).toEqual({ kind: 'plan', path: join(root, 'containers', 'web', 'plan.next') });
    const run = await nextRun();
    const ep = epairNames(`web@${run}`);
    // two jails, two epairs on the bridge, two devfs rulesets, both runs' rctl rules; the old rdr as it was
    expect([...fake.jails.keys()]).toEqual(['web', `web@${run}`]);
    expect(fake.jails.get(`web@${run}`)!.path).toBe(join(root, 'containers', 'web', `next-${run}`, 'rootfs'));
    expect([...fake.interfaces].filter((i) => i.startsWith('vsl')).sort()).toEqual([epairNames('web').host, ep.host].sort());
    expect(fake.devfs.size).toBe(2);
    expect(fake.rctl.filter((r) => r.startsWith(`jail:web@${run}:`))).toHaveLength(2);
    expect(fake.anchors.get('vessel-rdr/web')).toBe(oldRdr);
    expect(fake.anchors.has(`vessel-rdr/web@${run}`)).toBe(false);
    expectGolden('e2e-surge', 'next-jail.conf', norm(readFileSync(join(root, 'containers', 'web', `next-${run}`, 'jail.conf'), 'utf8'), run));
    expectGolden('e2e-surge', 'next-devfs.rules', norm(readFileSync(join(root, 'containers', 'web', `next-${run}`, 'devfs.rules'), 'utf8'), run));

    expect(await ask(s, { verb: 'switch', run: 1 })).toEqual({ kind: 'switched' });
    // one pf transaction: the old anchor empty, the new one redirecting to the new jail's address
    expect(rdrLines(fake.anchors.get('vessel-rdr/web'))).toEqual([]);
    const lease = (await listLeases()).find((l) => l.container === `web@${run}`)!;
    expect(rdrLines(fake.anchors.get(`vessel-rdr/web@${run}`)).map((l) => /-> (\S+) port/.exec(l)?.[1])).toEqual([lease.address, lease.address6]);

    // what the new run wrote (the model's `mkdir -p` makes no directory: written here as the run would)
    mkdirSync(join(root, 'containers', 'web', `next-${run}`, 'upper'), { recursive: true });
    writeFileSync(join(root, 'containers', 'web', `next-${run}`, 'upper', 'written-by-v2'), '');
    expect(await ask(s, { verb: 'retired', run: 0 })).toEqual({ kind: 'ok' });
    // only the new jail and its names; the lease took the container's name
    expect([...fake.jails.keys()]).toEqual([`web@${run}`]);
    expect([...fake.interfaces].filter((i) => i.startsWith('vsl'))).toEqual([ep.host]);
    expect([...fake.anchors.keys()].sort()).toEqual([`vessel-rdr/web@${run}`, 'vessel-nat/front'].sort());
    expect(fake.rctl.every((r) => r.startsWith(`jail:web@${run}:`))).toBe(true);
    expect(fake.devfs.size).toBe(1);
    expect(fake.portacl).toBe('uid:80:tcp:80'); // both runs had the rule: the old one's release left it
    expect((await listLeases()).map((l) => `${l.container} ${l.address}`)).toEqual([`web ${lease.address}`]);
    const st = (await readRawState('web'))!;
    expect(st).toMatchObject({ runId: run, status: 'running', spec: { env: [['VERSION', '2']] } });
    expect(st.next).toBeUndefined();
    expect(st.resources.map((r) => `${r.kind} ${r.id}`)).toContain(`jail web@${run}`);
    expect(existsSync(join(root, 'containers', 'web', 'jail.conf'))).toBe(false);
    // the writable layer is the new run's now (unionfs holds its upper by reference), where the next start finds it
    expect(readdirSync(join(root, 'containers', 'web', 'upper'))).toEqual(['written-by-v2']);
    expect(existsSync(join(root, 'containers', 'web', `next-${run}`, 'upper'))).toBe(false);
    expect(existsSync(join(root, 'containers', 'web', 'plan'))).toBe(true);

    // the new run ends: everything of it goes
    expect(await ask(s, { verb: 'exited', run: 1, code: 143, stopped: true })).toEqual({ kind: 'released' });
    nothingLeft(fake);
    await noRecordsLeft();
    expectGolden('e2e-surge', 'commands.txt', norm(fake.transcript(), run));
  });

  it('rollback: the new jail never became healthy (or died) — its names released, the old jail serving with its rdr untouched', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    const oldRdr = fake.anchors.get('vessel-rdr/web');
    const before = { interfaces: [...fake.interfaces].sort(), rctl: [...fake.rctl], devfs: [...fake.devfs.keys()], mounts: fake.mounts.map((m) => m.path), portacl: fake.portacl };
    expect((await ask(s, { verb: 'prepare-next' })).kind).toBe('plan');
    const run = await nextRun();
    const from = fake.calls.length;
    // the monitor stopped it (never healthy: its deadline; or it exited): vessel up releases it
    expect(await ask(s, { verb: 'abandon', run: 1, reason: 'the new container was not healthy within 7000 ms' })).toEqual({ kind: 'released' });
    const abandon = fake.calls.slice(from).map((c) => c.argv.join(' '));
    // nothing of the old run was touched: not its anchor, jail, epair, ruleset or rules
    expect(abandon.filter((c) => /vessel-rdr\/web( |$)|jail:web:| web$|-j web /.test(c))).toEqual([]);
    expect([...fake.jails.keys()]).toEqual(['web']);
    expect(fake.anchors.get('vessel-rdr/web')).toBe(oldRdr);
    expect({ interfaces: [...fake.interfaces].sort(), rctl: [...fake.rctl], devfs: [...fake.devfs.keys()], mounts: fake.mounts.map((m) => m.path), portacl: fake.portacl }).toEqual(before);
    expect((await listLeases()).map((l) => l.container)).toEqual(['web']);
    const st = (await readRawState('web'))!;
    expect(st.next).toBeUndefined();
    expect(st.error).toBe('reload rolled back: the new container was not healthy within 7000 ms');
    expect(existsSync(join(root, 'containers', 'web', `next-${run}`))).toBe(false);
    expect(existsSync(join(root, 'containers', 'web', 'plan.next'))).toBe(false);
    expectGolden('e2e-surge-rollback', 'commands.txt', norm(fake.transcript(), run));
    expect(await ask(s, { verb: 'exited', run: 0, code: 143, stopped: true })).toEqual({ kind: 'released' });
    nothingLeft(fake);
    await noRecordsLeft();
  });

  it('two reloads in a row: a run beside a run beside — the second retires the first one\'s NAME@RUNID jail and directory', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    const runs: string[] = [];
    for (const version of [2, 3]) {
      if (version === 3) {
        writeFileSync(file, spec(3));
        expect(await ask(s, { verb: 'reload' })).toEqual({ kind: 'surge' });
      }
      expect((await ask(s, { verb: 'prepare-next' })).kind).toBe('plan');
      const run = await nextRun();
      runs.push(run);
      expect([...fake.jails.keys()]).toEqual([version === 2 ? 'web' : `web@${runs[0]}`, `web@${run}`]);
      mkdirSync(join(root, 'containers', 'web', `next-${run}`, 'upper'), { recursive: true });
      writeFileSync(join(root, 'containers', 'web', `next-${run}`, 'upper', `written-by-v${version}`), '');
      expect(await ask(s, { verb: 'switch', run: version - 1 })).toEqual({ kind: 'switched' });
      // the running run's own anchor was emptied in the same pf load (a lease that took the
      // container's name keeps its run's anchor, net/ Lease.run), not a `vessel-rdr/web` made up
      const serving = version === 2 ? 'web' : `web@${runs[0]}`;
      expect(rdrLines(fake.anchors.get(`vessel-rdr/${serving}`))).toEqual([]);
      expect(rdrLines(fake.anchors.get(`vessel-rdr/web@${run}`))).toHaveLength(2);
      if (version === 3) expect(fake.anchors.has('vessel-rdr/web')).toBe(false);
      expect(await ask(s, { verb: 'retired', run: version - 2 })).toEqual({ kind: 'ok' });
      expect([...fake.jails.keys()]).toEqual([`web@${run}`]);
    }
    const dir = join(root, 'containers', 'web');
    // the first reload's run is gone with its directory; the second's serves, its layer the container's
    expect(readdirSync(dir).filter((e) => e.startsWith('next-'))).toEqual([`next-${runs[1]}`]);
    expect(readdirSync(join(dir, 'upper'))).toEqual(['written-by-v3']);
    expect([...fake.anchors.keys()].sort()).toEqual(['vessel-nat/front', `vessel-rdr/web@${runs[1]}`]);
    expect(fake.devfs.size).toBe(1);
    expect(fake.portacl).toBe('uid:80:tcp:80');
    expect((await readRawState('web'))).toMatchObject({ runId: runs[1], spec: { env: [['VERSION', '3']] } });
    expect(await ask(s, { verb: 'exited', run: 2, code: 0, stopped: true })).toEqual({ kind: 'released' });
    nothingLeft(fake);
    await noRecordsLeft();
  });

  it('ZFS store: the next run\'s root is its own clone DATASET.RUNID beside the running one\'s; each destroyed with its run', async () => {
    const fake = install();
    process.env.VESSEL_ZFS_DATASET = 'zroot/vessel';
    try {
      const s = await runningThenChanged(fake);
      expect((await ask(s, { verb: 'prepare-next' })).kind).toBe('plan');
      const run = await nextRun();
      const containers = () => [...fake.datasets].filter((d) => d.includes('/containers/')).sort();
      expect(containers()).toEqual(['zroot/vessel/containers/web', `zroot/vessel/containers/web.${run}`]);
      expect(fake.mounts.find((m) => m.source === `zroot/vessel/containers/web.${run}`)?.path).toBe(join(root, 'containers', 'web', `next-${run}`, 'rootfs'));
      expect(await ask(s, { verb: 'switch', run: 1 })).toEqual({ kind: 'switched' });
      expect(await ask(s, { verb: 'retired', run: 0 })).toEqual({ kind: 'ok' });
      expect(containers()).toEqual([`zroot/vessel/containers/web.${run}`]);
      expect(await ask(s, { verb: 'exited', run: 1, code: 0, stopped: true })).toEqual({ kind: 'released' });
      expect(containers()).toEqual([]);
      await noRecordsLeft();
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('SIGKILL of vessel up and the monitor right after the new jail was created: vessel gc removes both runs\' objects', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    // killed just after `jail -c web@RUN`, before its VNET inside is configured
    fake.freezeAfter = (argv) => argv[0] === 'jail' && argv.includes('-c') && argv[argv.length - 1]!.startsWith('web@');
    void ask(s, { verb: 'prepare-next' });
    await fake.frozen;
    const run = await nextRun();
    expect([...fake.jails.keys()]).toEqual(['web', `web@${run}`]);
    fake.calls.length = 0;
    await sigkilled(fake);
    expect(await gc()).toEqual({ cleaned: ['web'], removed: [], errors: [] });
    nothingLeft(fake);
    await noRecordsLeft();
    expectGolden('e2e-surge-kill-gc', 'commands.txt', norm(fake.transcript(), run));
  });

  it('SIGKILL mid-reload, then `vessel rm`: both runs\' objects and the reload\'s lease go with the container', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    fake.freezeAfter = (argv) => argv[0] === 'rctl' && argv[1] === '-a' && (argv[2] ?? '').startsWith('jail:web@');
    void ask(s, { verb: 'prepare-next' });
    await fake.frozen;
    await sigkilled(fake);
    await removeContainer('web', { force: true });
    nothingLeft(fake);
    expect(await listLeases()).toEqual([]);
    expect(await listNetworkInfo()).toEqual([]);
    expect(existsSync(join(root, 'containers', 'web'))).toBe(false);
  });

  it('SIGKILL after the ports were switched: the next start of the name removes the orphaned run first', async () => {
    const fake = install();
    const s = await runningThenChanged(fake);
    expect((await ask(s, { verb: 'prepare-next' })).kind).toBe('plan');
    const run = await nextRun();
    expect(await ask(s, { verb: 'switch', run: 1 })).toEqual({ kind: 'switched' });
    fake.freezeAt = fake.calls.length; // killed before the retirement's first command
    void ask(s, { verb: 'retired', run: 0 });
    await fake.frozen;
    fake.calls.length = 0;
    await sigkilled(fake);
    // the Emperor respawns the vassal: a new monitor asks for its plan
    const again = session();
    expect(await ask(again, { verb: 'prepare' })).toEqual({ kind: 'plan', path: join(root, 'containers', 'web', 'plan') });
    expect([...fake.jails.keys()]).toEqual(['web']);
    expect((await listLeases()).map((l) => l.container)).toEqual(['web']);
    expect([...fake.anchors.keys()].sort()).toEqual(['vessel-nat/front', 'vessel-rdr/web']);
    expect(readdirSync(join(root, 'containers', 'web')).filter((e) => e.startsWith('next-'))).toEqual([]);
    expectGolden('e2e-surge-kill-restart', 'commands.txt', norm(fake.transcript(), run));
    expect(await ask(again, { verb: 'exited', run: 0, code: 143, stopped: true })).toEqual({ kind: 'released' });
    nothingLeft(fake);
    await noRecordsLeft();
  });

  it('SIGKILL before any host command of the reload, one after another: vessel gc always leaves nothing', async () => {
    type Phase = 'prepare-next' | 'switch' | 'retired' | 'abandon';
    const before: Record<Phase, Request[]> = {
      'prepare-next': [],
      switch: [{ verb: 'prepare-next' }],
      retired: [{ verb: 'prepare-next' }, { verb: 'switch', run: 1 }],
      abandon: [{ verb: 'prepare-next' }],
    };
    const killed: Record<Phase, Request> = {
      'prepare-next': { verb: 'prepare-next' },
      switch: { verb: 'switch', run: 1 },
      retired: { verb: 'retired', run: 0 },
      abandon: { verb: 'abandon', run: 1, reason: 'killed' },
    };
    let cases = 0;
    for (const phase of Object.keys(before) as Phase[]) {
      for (let k = 0; ; k++) {
        const fake = install();
        const s = await runningThenChanged(fake);
        for (const step of before[phase]) expect((await ask(s, step)).kind).not.toBe('fail');
        fake.freezeAt = fake.calls.length + k;
        const done = ask(s, killed[phase]).then(() => false, () => false);
        const cut = await Promise.race([fake.frozen.then(() => true), done]);
        await sigkilled(fake);
        const report = await gc();
        const where = `${phase}, SIGKILL before its command ${k}`;
        expect(report.errors, where).toEqual([]);
        expect(fake.leftovers(), where).toEqual({});
        expect(fake.portacl, where).toBe('');
        await noRecordsLeft();
        restore?.();
        restore = undefined;
        cases++;
        if (!cut) break; // the step ran whole before command k: every kill point of it was tried
      }
    }
    expect(cases).toBeGreaterThan(40);
  }, 120_000);
});

/**
 * vessel up and the monitor SIGKILLed: the monitor's starter killed the jails' processes, the lock
 * files name a dead pid (util/lock: stale, taken over), and host commands answer again (for gc).
 */
async function sigkilled(fake: KillableFreeBSD): Promise<void> {
  fake.crash();
  rmSync(join(config().run, 'locks'), { recursive: true, force: true });
  fake.freezeAt = Infinity;
}
