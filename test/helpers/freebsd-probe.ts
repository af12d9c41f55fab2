import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { FREEBSD_SIGNALS, signalLabel, signalNumber, type ModelProcess, type ModelProcesses } from './freebsd-procs.js';
import type { ModelNetwork } from './freebsd-net.js';

/**
 * vessel-probe (native/probe) as the model FreeBSD host runs it: the same steps, each answered
 * from what vessel configured on the model — the plan's ids, directory and environment (the
 * starter's jail_attach/setgroups/setuid/chdir/execve, whose C runs for real in
 * freebsd-native.test.ts), the jail's mounts (nullfs volumes ro or rw, the unionfs root over its
 * image layers, which are real directories here), its rctl(8) rules, its processes, and the
 * network the model keeps (freebsd-net.ts). What FreeBSD does differently from Linux is modelled
 * as FreeBSD does it: no OOM kill (rctl memoryuse reclaims), vmemoryuse refuses malloc(3), maxproc
 * refuses fork(2) with EAGAIN, and a process outside a jail's sight is ESRCH to kill(2).
 */

/** The probe is vessel-probe wherever it is mounted (in a container) or built (on the host). */
export function isProbe(argv: readonly string[]): boolean {
  return (argv[0] ?? '').endsWith('/vessel-probe');
}

export interface ModelMount {
  source: string;
  path: string;
  fstype: string;
  opts?: string;
}

/** What the probe sees of the model host. */
export interface ProbeWorld {
  processes: ModelProcesses;
  net: ModelNetwork;
  /** The jail's root (its path parameter) and hostname. */
  jail(name: string): { path: string; hostname: string } | undefined;
  mounts(): readonly ModelMount[];
  /** A tmpfs mounted at PATH: where its files are kept (memory, on FreeBSD). */
  tmpfs(path: string): string;
  rctl(): readonly string[];
  racct(): boolean;
  /** The host's own hostname (what its probe says in "hello from …"). */
  hostname: string;
}

/** Who the process is and where: from the plan (a container's command) or jail-exec's flags. */
export interface ProbeIdentity {
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  env: string[];
}

interface Run {
  world: ProbeWorld;
  proc: ModelProcess;
  jail: string;
  id: ProbeIdentity;
  /** One report line (its stdout: the container's log, or the -o file). */
  say: (line: string) => void;
}

/** The probe's own address space before it allocates (a static binary, its stack): counted by vmemoryuse. */
const OWN_MIB = 4;
const MIB = 1024 * 1024;

/** The steps of a probe argv (after the binary), and its -o file. */
export function parseProbeArgv(argv: readonly string[]): { out?: string; steps: string[][] } {
  let rest = argv.slice(1);
  let out: string | undefined;
  if (rest[0] === '-o') {
    out = rest[1];
    rest = rest.slice(2);
  }
  const steps: string[][] = [[]];
  for (const w of rest) {
    if (w === '--') steps.push([]);
    else steps[steps.length - 1]!.push(w);
  }
  return { ...(out !== undefined ? { out } : {}), steps };
}

/** A path in the jail → where it is on the host: a volume's source, or the root's writable layer and its image layers. */
function resolve(w: ProbeWorld, jail: string, path: string): { write?: string; reads: string[]; volume: boolean } | { error: string } {
  const j = w.jail(jail);
  if (j === undefined) return { error: 'ENOENT' };
  const root = j.path;
  const full = join(root, posix.normalize(`/${path}`));
  const mounts = w.mounts();
  const volume = mounts.filter((m) => m.path !== root && (full === m.path || full.startsWith(`${m.path}/`))).sort((a, b) => b.path.length - a.path.length)[0];
  if (volume !== undefined) {
    if (volume.fstype !== 'nullfs' && volume.fstype !== 'tmpfs') return { error: 'EOPNOTSUPP' };
    const source = volume.fstype === 'tmpfs' ? w.tmpfs(volume.path) : volume.source;
    const host = join(source, full.slice(volume.path.length));
    const readonly = (volume.opts ?? '').split(',').includes('ro');
    return { ...(readonly ? {} : { write: host }), reads: [host], volume: true };
  }
  const rel = full.slice(root.length);
  const own = mounts.filter((m) => m.path === root);
  // unionfs(8): reads find the topmost layer that has the file; writes go to the writable upper
  const upper = [...own].reverse().find((m) => m.fstype === 'unionfs' && !(m.opts ?? '').split(',').includes('ro'));
  const zfs = own.find((m) => m.fstype === 'zfs');
  const lowers = [...own].reverse().filter((m) => m !== upper && (m.fstype === 'nullfs' || m.fstype === 'unionfs')).map((m) => join(m.source, rel));
  const write = upper !== undefined ? join(upper.source, rel) : zfs !== undefined ? full : undefined;
  return { ...(write !== undefined ? { write } : {}), reads: [...(write !== undefined ? [write] : []), ...lowers], volume: false };
}

function readStep(r: Run, path: string): void {
  const where = resolve(r.world, r.jail, path);
  if ('error' in where) return r.say(`read ${path} error ${where.error}`);
  const file = where.reads.find((p) => existsSync(p) && statSync(p).isFile());
  if (file === undefined) return r.say(`read ${path} error ENOENT`);
  r.say(`read ${path} ${readFileSync(file, 'utf8').slice(0, 1023).replace(/\n/g, '\\n')}`);
}

function writeStep(r: Run, path: string, text: string): void {
  const where = resolve(r.world, r.jail, path);
  if ('error' in where) return r.say(`write ${path} error ${where.error}`);
  if (where.write === undefined) return r.say(`write ${path} error EROFS`);
  // unionfs makes the upper's directories as needed (shadow directories), and a ZFS clone has the
  // image's (a snapshot the model does not hold); a volume's directory must exist
  const dir = dirname(where.write);
  if (!existsSync(dir)) {
    if (where.volume) return r.say(`write ${path} error ENOENT`);
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(where.write, text);
  r.say(`write ${path} ok`);
}

/** The jail's rctl rule for RESOURCE (deny), when racct enforces it. */
function limit(w: ProbeWorld, jail: string, resource: string): number | undefined {
  if (!w.racct()) return undefined;
  const rule = w.rctl().find((x) => x.startsWith(`jail:${jail}:${resource}:deny=`));
  return rule === undefined ? undefined : Number(rule.split('=')[1]);
}

function forkStep(r: Run, n: number): void {
  const max = limit(r.world, r.jail, 'maxproc');
  const now = r.world.processes.inJail(r.jail).length;
  const k = max === undefined ? n : Math.max(0, Math.min(n, max - now));
  r.say(`fork ${k} of ${n}`);
  if (k < n) r.say('fork error EAGAIN');
}

function allocStep(r: Run, mib: number): void {
  r.say(`allocating ${mib} MiB`);
  // memoryuse has no effect here: rctl(8) reclaims a jail's pages over it, it refuses nothing
  const v = limit(r.world, r.jail, 'vmemoryuse');
  const room = v === undefined ? Infinity : Math.max(0, Math.floor(v / MIB) - OWN_MIB);
  if (mib > room) r.say(`alloc refused after ${room} MiB`);
  else r.say(`alloc ${mib} MiB`);
}

/** The child `orphan` leaves: "orphaned" once its parent is gone, "released" at SIGUSR2 (kept pending until then). */
function orphan(r: Run): void {
  const child = r.world.processes.spawn(r.jail);
  let orphaned = false;
  let pending = false;
  const release = () => {
    r.say('released');
    r.world.processes.exit(child, 0);
  };
  child.handlers.set(FREEBSD_SIGNALS.USR2, () => (orphaned ? release() : (pending = true)));
  void r.proc.wait().then(() => {
    if (child.ended) return;
    orphaned = true;
    r.say('orphaned');
    if (pending) release();
  });
  r.say(`forked ${child.pid}`);
}

function connectStep(r: Run, address: string, port: number): void {
  const hostname = r.world.jail(r.jail)?.hostname ?? '';
  const res = r.world.net.connectFromJail(r.jail, hostname, address, port);
  r.say('reply' in res ? `connect ${address} ${port} ok ${res.reply}` : `connect ${address} ${port} error ${res.error}`);
}

function serveStep(r: Run, port: number): void {
  const key = `${r.jail} ${port}`;
  r.world.net.servers.set(key, { hostname: r.world.jail(r.jail)?.hostname ?? '' });
  void r.proc.wait().then(() => r.world.net.servers.delete(key));
  r.say(`serving ${port}`);
}

/** One step; 'blocked' when the process now waits (for a signal, a connection) with its handlers set. */
function step(r: Run, words: string[]): 'next' | 'blocked' | 'ended' {
  const [verb, ...a] = words;
  const sig = (name: string | undefined): number => signalNumber(name ?? '') ?? -1;
  const p = r.proc;
  switch (verb) {
    case 'exit':
      r.world.processes.exit(p, Number(a[0]));
      return 'ended';
    case 'raise':
      r.world.processes.exit(p, 128 + sig(a[0]));
      return 'ended';
    case 'catch': {
      const s = sig(a[0]);
      p.handlers.set(s, () => {
        r.say(`caught ${signalLabel(s)}`);
        r.world.processes.exit(p, Number(a[1]));
      });
      r.say(`catching ${signalLabel(s)}`);
      return 'blocked';
    }
    case 'ignore':
      p.handlers.set(sig(a[0]), 'ignore');
      r.say(`ignoring ${signalLabel(sig(a[0]))}`);
      return 'blocked';
    case 'sleep':
      r.say('sleeping');
      return 'blocked';
    case 'orphan':
      orphan(r);
      return 'next';
    case 'fork':
      forkStep(r, Number(a[0]));
      return 'next';
    case 'pidfile': {
      const before = r.say;
      writeStep({ ...r, say: () => undefined }, a[0]!, `${p.pid}\n`);
      before(`pidfile ${a[0]} ${p.pid}`);
      return 'next';
    }
    case 'signal0': {
      const target = Number(a[0]);
      // prison_check(9): a jailed process sees only processes of its own jail (and their children)
      const visible = r.world.processes.get(target)?.jail === r.jail;
      r.say(`signal0 ${target} ${visible ? 'ok' : 'error ESRCH'}`);
      return 'next';
    }
    case 'read':
      readStep(r, a[0]!);
      return 'next';
    case 'write':
      writeStep(r, a[0]!, a[1]!);
      return 'next';
    case 'identity':
      r.say(`uid ${r.id.uid}`);
      r.say(`gid ${r.id.gid}`);
      r.say(`groups ${[...new Set([...r.id.groups, r.id.gid])].sort((x, y) => x - y).join(',')}`);
      r.say(`cwd ${r.id.cwd}`);
      r.say(`hostname ${r.world.jail(r.jail)?.hostname ?? ''}`);
      for (const e of r.id.env) r.say(`env ${e}`);
      return 'next';
    case 'alloc':
      allocStep(r, Number(a[0]));
      return 'next';
    case 'addrs':
      for (const { iface, cidr } of r.world.net.jailAddresses.get(r.jail) ?? []) r.say(`addr ${iface} ${cidr}`);
      return 'next';
    case 'connect':
      connectStep(r, a[0]!, Number(a[1]));
      return 'next';
    case 'serve':
      serveStep(r, Number(a[0]));
      return 'blocked';
    default:
      throw new Error(`the model has no probe step ${verb ?? '(none)'}`);
  }
}

/**
 * Run the probe ARGV as process PROC of JAIL: its report lines go to STDOUT (a host file: the
 * container's log) or to its -o file (a path in the jail). The process ends when its steps do,
 * or stays, blocked, with its handlers set.
 */
export function runProbe(world: ProbeWorld, proc: ModelProcess, jail: string, id: ProbeIdentity, argv: readonly string[], stdout: string | undefined): void {
  const { out, steps } = parseProbeArgv(argv);
  let target: string | undefined = stdout;
  if (out !== undefined) {
    const where = resolve(world, jail, out);
    target = 'error' in where ? undefined : where.write;
  }
  const say = (line: string) => { if (target !== undefined) appendFileSync(target, `${line}\n`); };
  const r: Run = { world, proc, jail, id, say };
  for (const s of steps) {
    if (proc.ended) return;
    const next = step(r, s);
    if (next !== 'next') return;
  }
  world.processes.exit(proc, 0);
}

/** The host's own probe, run to its end (`connect ADDR PORT`): its stdout. */
export function hostProbeOutput(world: ProbeWorld, pf: Parameters<ModelNetwork['redirect']>[2], argv: readonly string[]): string {
  const { steps } = parseProbeArgv(argv);
  const lines: string[] = [];
  for (const [verb, address, portText] of steps) {
    if (verb !== 'connect') throw new Error(`the model's host runs only the probe's connect step, not ${verb}`);
    const port = Number(portText);
    const to = world.net.redirect(address!, port, pf);
    if ('error' in to) { lines.push(`connect ${address} ${port} error ${to.error}`); continue; }
    const jail = world.net.jailWith(to.address);
    const server = jail === undefined ? undefined : world.net.servers.get(`${jail} ${to.port}`);
    lines.push(server === undefined ? `connect ${address} ${port} error ECONNREFUSED` : `connect ${address} ${port} ok selftest ${server.hostname} hello from ${world.hostname}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}
