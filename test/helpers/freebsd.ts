import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { Recorder, type HostOptions, type HostResult, type SpawnedProcess, type SpawnOptions } from '../../src/util/host.js';
import { planForTranscript, spawnModelMonitor, type ModelHost } from './freebsd-monitor.js';
import { ModelProcesses, signalNumber } from './freebsd-procs.js';
import { ModelNetwork } from './freebsd-net.js';
import { hostProbeOutput, isProbe, parseProbeArgv, runProbe, type ModelMount, type ProbeIdentity, type ProbeWorld } from './freebsd-probe.js';

/** `vessel-init monitor PLAN`: the container's monitor (native/freebsd), modelled by freebsd-monitor.ts. */
export function isMonitor(argv: readonly string[]): boolean {
  return (argv[0] ?? '').endsWith('/vessel-init') && argv[1] === 'monitor' && argv.length === 3;
}

/**
 * Test helpers of the FreeBSD driver (which cannot run here): golden files, and a small model
 * of a FreeBSD host that answers jail/jls/ifconfig/mount/rctl/pfctl/devfs/zfs/sysctl the way the
 * man pages say they answer, so the contract tests can check "start, be killed, find leftovers,
 * clean up" against a host that actually keeps state.
 */

export const FIXTURES = join(dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'freebsd');

/** Compare with test/fixtures/freebsd/<case>/<file>; UPDATE_GOLDEN=1 writes it instead. */
export function expectGolden(caseName: string, file: string, actual: string): void {
  const path = join(FIXTURES, caseName, file);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) throw new Error(`golden file ${path} is missing; run with UPDATE_GOLDEN=1, review it, commit it`);
  expect(actual, `golden ${caseName}/${file}`).toBe(readFileSync(path, 'utf8'));
}

/** Where vessel's helpers live in the transcripts: the FreeBSD package's libexec directory. */
export const LIBEXEC = '/usr/local/libexec/vessel';
process.env.VESSEL_LIBEXEC = LIBEXEC;
// the imports these tests make run here, through this checkout's gate (src/image/gate.ts)
process.env.VESSEL_TAR_GATE = join(__dirname, '..', '..', 'build', 'vessel-tar-gate');

/** Replace the per-test temporary state root with the path vessel uses on a real host. */
export function normalizeRoot(text: string, root: string): string {
  return text.split(root).join('/var/lib/vessel');
}

type Answer = Partial<HostResult>;

export interface FakeJail {
  jid: number;
  path: string;
  conf?: string;
  mounts: string[];
  childrenMax?: number;
  securelevel?: number;
  enforceStatfs?: number;
}

/** prison0's children.max (kern_jail.c JAIL_MAX). */
const JAIL_MAX = 999999;

/** A FreeBSD host in memory. Every call is also recorded (it is a Recorder). */
export class FakeFreeBSD extends Recorder {
  /**
   * Jails as the kernel keeps them. children.max, securelevel and enforce_statfs are what the
   * jail.conf (or `jail -m`) set, and kern_jail.c's rules are enforced: a child below its parent's
   * securelevel/enforce_statfs, a children.max not below the parent's, or one descendant too many
   * is EPERM.
   */
  jails = new Map<string, FakeJail>();
  /** The host VNET's net.inet.ip.portrange.reservedhigh (a VNET jail's own starts at 1023). */
  reservedhigh = 0;
  /** ifconfig(8) and route(8) have -j JAIL. */
  jailOptions = true;
  /** kern.osreldate: 14.2-RELEASE. */
  osreldate = 1402000;
  /** kern.securelevel: prison0's securelevel. */
  securelevel = -1;
  /** Mounts in mount order; opts as mount(8) -o or the fstab line gave them. */
  mounts: ModelMount[] = [];
  interfaces = new Set<string>(['em0', 'lo0']);
  rctl: string[] = [];
  devfs = new Map<number, string[]>();
  anchors = new Map<string, string>();
  /** pf states as `pfctl -s states -v`/`-vv` print them: the state line and its id/creatorid. */
  states: Array<{ line: string; id: string }> = [];
  datasets = new Set<string>();
  snapshots = new Set<string>();
  portacl = '';
  /** Processes per jail name, as `ps -J` lists them. */
  procs = new Map<string, number[]>();
  racct = true;
  /** racct of a jail as `rctl -u jail:NAME` prints it; a jail not listed gets a small default. */
  usage = new Map<string, Array<[string, number]>>();
  /** Byte counters of an interface (`netstat -I IF -b`): received by it, sent by it. */
  ifBytes = new Map<string, { received: number; sent: number }>();
  /** Jail parameters this kernel lacks (sysctl -d security.jail.param.X fails). */
  missingParams = new Set<string>();
  vimage = true;
  /** pf(4): enabled, and the anchor lines of `vessel setup pf` in the main ruleset. */
  pfEnabled = true;
  mainAnchors = ['nat-anchor "vessel-nat/*" all', 'rdr-anchor "vessel-rdr/*" all'];
  forwarding = true;
  /** net.inet6.ip6.forwarding (ipv6_gateway_enable): networks are dual-stack only with it. */
  forwarding6 = true;
  /** net.pf.filter_local: pf translates the host's own connections (to the external address). */
  filterLocal = true;
  /** em0's IPv4 address (`ifconfig em0 inet`); the default route's interface is em0. */
  extAddress = '192.0.2.10';
  /** The host's hostname, as its own probe says it. */
  hostname = 'freebsd-host';
  /** The network as ifconfig/route/pfctl left it (freebsd-net.ts): what a probe can reach. */
  readonly net = new ModelNetwork();
  private nextJid = 1;
  private nextIf = 0;

  override async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    this.calls.push(opts.input === undefined ? { argv: [...argv] } : { argv: [...argv], input: opts.input });
    const a = this.answer([...argv], opts.input);
    const result: HostResult = { argv, exitCode: a.exitCode ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    if (result.exitCode !== 0 && !opts.allowFailure) {
      const { hostFailure } = await import('../../src/util/host.js');
      throw hostFailure(result);
    }
    return result;
  }

  override spawn(argv: readonly string[], _opts: SpawnOptions = {}): SpawnedProcess {
    if (isMonitor(argv)) {
      // The container's monitor: its command runs in the jail and exits 0 at once (freebsd-monitor.ts).
      this.calls.push({ argv: [...argv], input: planForTranscript(argv[2]!) });
      return spawnModelMonitor(this.modelHost(), argv[2]!, true);
    }
    this.calls.push({ argv: [...argv] });
    const modelled = this.jailExec(argv) ?? this.hostProbe(argv);
    if (modelled !== undefined) return modelled;
    return { pid: 100000 + this.calls.length, pipes: [], exited: Promise.resolve({ code: 0, signal: null }), kill: () => undefined, unref: () => undefined };
  }

  private pidCounter = 4000;
  protected listeners: Array<() => void> = [];
  /** The processes the model started (freebsd-procs.ts): their jails, signal dispositions, ends. */
  readonly processes = new ModelProcesses(this.procs, () => this.changed(), () => this.pidCounter++);

  /** Something changed that a waiting monitor may care about. */
  protected changed(): void {
    for (const l of [...this.listeners]) l();
  }

  /** What the model monitor needs of this host: the jails' processes, and word of every change. */
  protected modelHost(): ModelHost {
    return { procs: this.procs, onChange: (l) => this.listeners.push(l), nextPid: () => this.pidCounter++, processes: this.processes, world: this.probeWorld() };
  }

  /** What vessel-probe sees of this host (freebsd-probe.ts). */
  probeWorld(): ProbeWorld {
    return {
      processes: this.processes,
      net: this.net,
      jail: (name) => {
        const j = this.jails.get(name);
        if (j === undefined) return undefined;
        const conf = j.conf !== undefined && existsSync(j.conf) ? readFileSync(j.conf, 'utf8') : '';
        return { path: j.path, hostname: /\thost\.hostname = "([^"]*)";/.exec(conf)?.[1] ?? name };
      },
      mounts: () => this.mounts,
      // a tmpfs's files are kept at its mount point, a directory of the container's (removed with it)
      tmpfs: (path) => {
        mkdirSync(path, { recursive: true });
        return path;
      },
      rctl: () => this.rctl,
      racct: () => this.racct,
      hostname: this.hostname,
    };
  }

  /** pf as pfctl left it, for the host's own connections to a published port. */
  protected pfState(): Parameters<ModelNetwork['redirect']>[2] {
    return { enabled: this.pfEnabled, mainAnchors: this.mainAnchors, anchors: this.anchors, filterLocal: this.filterLocal, extAddress: this.extAddress };
  }

  /**
   * `vessel-init jail-exec -j JAIL -d DIR -u UID -g GID -G GIDS [-e K=V]… -- ARGV` (jail-exec.ts)
   * running vessel-probe: the probe in the jail with exactly those ids, directory and environment.
   * Undefined for any other command.
   */
  protected jailExec(argv: readonly string[]): SpawnedProcess | undefined {
    const dash = argv.indexOf('--');
    if (argv[1] !== 'jail-exec' || dash < 0 || !isProbe(argv.slice(dash + 1))) return undefined;
    const flag = (f: string) => { const i = argv.indexOf(f); return i >= 0 && i < dash ? argv[i + 1] : undefined; };
    const id: ProbeIdentity = {
      uid: Number(flag('-u') ?? 0),
      gid: Number(flag('-g') ?? 0),
      groups: (flag('-G') ?? '').split(',').filter(Boolean).map(Number),
      cwd: flag('-d') ?? '/',
      env: argv.slice(0, dash).flatMap((a, i) => (a === '-e' ? [argv[i + 1]!] : [])),
    };
    const jail = flag('-j') ?? '';
    if (!this.jails.has(jail)) return { pid: 0, pipes: [], exited: Promise.resolve({ code: 125, signal: null }), kill: () => undefined, unref: () => undefined };
    const p = this.processes.spawn(jail);
    runProbe(this.probeWorld(), p, jail, id, argv.slice(dash + 1), undefined);
    return { pid: p.pid, pipes: [], exited: p.wait().then((code) => ({ code, signal: null })), kill: (sig) => { this.processes.signal(p.pid, signalNumber(String(sig ?? 'TERM')) ?? 15); }, unref: () => undefined };
  }

  /** The host's own vessel-probe: `listen` (spawned, until a connection or a kill) or `connect` (run). */
  protected hostProbe(argv: readonly string[]): SpawnedProcess | undefined {
    if (!isProbe(argv)) return undefined;
    const { out, steps } = parseProbeArgv(argv);
    const [verb, address, port] = steps[0] ?? [];
    if (verb !== 'listen' || out === undefined) throw new Error(`the model spawns the host's probe only to listen with -o, not ${argv.join(' ')}`);
    let done!: (r: { code: number | null; signal: NodeJS.Signals | null }) => void;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => (done = res));
    const l = this.net.listen(address!, Number(port), out, () => done({ code: 0, signal: null }));
    return {
      pid: 0,
      pipes: [],
      exited,
      kill: (sig) => { this.net.listeners.delete(l.port); done({ code: null, signal: typeof sig === 'string' ? sig : 'SIGTERM' }); },
      unref: () => undefined,
    };
  }

  private ok(stdout = ''): Answer {
    return { exitCode: 0, stdout };
  }

  private fail(stderr = ''): Answer {
    return { exitCode: 1, stderr };
  }

  private answer(argv: string[], input?: string): Answer {
    const [cmd, ...args] = argv;
    const line = argv.join(' ');
    if (isProbe(argv)) return this.ok(hostProbeOutput(this.probeWorld(), this.pfState(), argv));
    switch (cmd) {
      case 'sysctl': {
        if (line === 'sysctl -n kern.racct.enable') return this.ok(this.racct ? '1\n' : '0\n');
        if (line === 'sysctl -d security.jail.param.vnet') return this.vimage ? this.ok('security.jail.param.vnet: Virtual network stack\n') : this.fail('sysctl: unknown oid');
        if (args[0] === '-d') {
          if (this.missingParams.has((args[1] ?? '').replace('security.jail.param.', ''))) return this.fail(`sysctl: unknown oid '${args[1]}'`);
          return this.ok(`${args[1]}: \n`);
        }
        if (line === 'sysctl -n security.mac.portacl.rules' || line === 'sysctl security.mac.portacl.rules') return this.ok(`${this.portacl}\n`);
        if (args[0]?.startsWith('security.mac.portacl.rules=')) { this.portacl = args[0].slice('security.mac.portacl.rules='.length); return this.ok(); }
        if (line === 'sysctl -n net.inet.ip.portrange.reservedhigh') return this.ok(`${this.reservedhigh}\n`);
        if (line === 'sysctl -n kern.osreldate') return this.ok(`${this.osreldate}\n`);
        if (line === 'sysctl -n kern.securelevel') return this.ok(`${this.securelevel}\n`);
        if (line === 'sysctl -n net.inet.ip.forwarding') return this.ok(this.forwarding ? '1\n' : '0\n');
        if (line === 'sysctl -n net.inet6.ip6.forwarding') return this.ok(this.forwarding6 ? '1\n' : '0\n');
        if (line === 'sysctl -n net.pf.filter_local') return this.ok(this.filterLocal ? '1\n' : '0\n');
        return this.ok();
      }
      case 'route':
        if (line === 'route -j') return this.getoptJ('route');
        if (args[0] === '-j' && args[1] !== undefined) this.net.jailRoute(args[1], args.slice(2));
        if (args[0] === '-n') return this.ok('   route to: default\ndestination: default\n    gateway: 192.0.2.1\n  interface: em0\n');
        return this.ok();
      case 'jls': {
        if (args[0] === '--libxo') {
          const only = args.includes('-j') ? args[args.indexOf('-j') + 1] : undefined;
          const list = [...this.jails].filter(([n]) => only === undefined || n === only)
            .map(([n, j]) => ({ jid: j.jid, hostname: n, path: j.path, name: n, state: 'ACTIVE' }));
          if (only !== undefined && list.length === 0) return this.fail(`jls: jail "${only}" not found`);
          return this.ok(JSON.stringify({ '__version': '2', 'jail-information': { jail: list } }) + '\n');
        }
        const name = args[1] ?? '';
        const j = this.jails.get(name);
        if (!j) return this.fail(`jls: jail "${args[1]}" not found`);
        // jls(8) -j NAME param…: the values, blank-separated, in the order asked.
        const value = (p: string): string => {
          switch (p) {
            case 'jid': return String(j.jid);
            case 'children.max': return String(j.childrenMax ?? 0);
            case 'children.cur': return String(this.descendants(name));
            case 'securelevel': return String(j.securelevel ?? -1);
            case 'enforce_statfs': return String(j.enforceStatfs ?? 2);
            default: return '-';
          }
        };
        return this.ok(args.slice(2).map(value).join(' ') + '\n');
      }
      case 'jail':
        return this.jail(args);
      case 'ps': {
        const pids = this.procs.get(args[args.length - 1] ?? '') ?? [];
        return pids.length > 0 ? this.ok(pids.map((p) => `${p}\n`).join('')) : this.fail();
      }
      case 'pkill': {
        const jid = Number(args[2]);
        const name = [...this.jails].find(([, j]) => j.jid === jid)?.[0];
        const sig = signalNumber((args[0] ?? '').slice(1));
        // pkill(1) exits 1 when no process matched
        if (name === undefined || sig === undefined || !this.processes.signalJail(name, sig)) return this.fail();
        return this.ok();
      }
      case 'kill': {
        // kill(1) -s NAME PID (the driver's signal to the main command)
        const sig = signalNumber(args[1] ?? '');
        return sig !== undefined && this.processes.signal(Number(args[2]), sig) ? this.ok() : this.fail(`kill: ${args[2]}: No such process`);
      }
      case 'mount':
        if (args[0] === '-p') return this.ok(this.mounts.map((m) => `${m.source}\t${m.path}\t${m.fstype}\trw\t0 0\n`).join(''));
        this.mounts.push({ source: args[args.length - 2] ?? '', path: args[args.length - 1] ?? '', fstype: args[args.indexOf('-t') + 1] ?? '', ...(args.includes('-o') ? { opts: args[args.indexOf('-o') + 1]! } : {}) });
        return this.ok();
      case 'umount': {
        const p = args[args.length - 1];
        const i = this.mounts.map((m) => m.path).lastIndexOf(p ?? '');
        if (i < 0) return this.fail(`umount: ${p}: not a file system root directory`);
        this.mounts.splice(i, 1);
        return this.ok();
      }
      case 'ifconfig':
        return this.ifconfig(args);
      case 'rctl':
        if (args[0] === '-a') { this.rctl.push(args[1]!); return this.ok(); }
        if (args[0] === '-r') { this.rctl = this.rctl.filter((r) => !r.startsWith(`${args[1]}:`)); return this.ok(); }
        if (args[0] === '-u') {
          const u = this.usage.get((args[1] ?? '').replace(/^jail:/, ''));
          // rctl.c show_usage: the kernel's `resource=amount,…` split into one line each
          return this.ok(u === undefined ? 'cputime=2\nmemoryuse=1048576\nmaxproc=3\n' : u.map(([k, v]) => `${k}=${v}\n`).join(''));
        }
        return this.ok(this.rctl.filter((r) => args[0] === undefined || r.startsWith(`${args[0]}:`)).map((r) => `${r}\n`).join(''));
      case 'devfs': {
        const n = Number(args[2]);
        const op = args[3];
        if (op === 'delset') { this.devfs.delete(n); return this.ok(); }
        if (op === 'add') { this.devfs.set(n, [...(this.devfs.get(n) ?? []), args.slice(4).join(' ')]); return this.ok(); }
        if (op === 'show') return this.ok((this.devfs.get(n) ?? []).map((r, i) => `${(i + 1) * 100} ${r}\n`).join(''));
        return this.ok();
      }
      case 'pfctl': {
        const a = args.indexOf('-a');
        if (line === 'pfctl -s info') return this.ok(`Status: ${this.pfEnabled ? 'Enabled' : 'Disabled'} for 0 days 01:02:03           Debug: Urgent\n`);
        if (line === 'pfctl -s nat') return this.ok(this.mainAnchors.map((l) => `${l}\n`).join(''));
        if (line === 'pfctl -s states -v' || line === 'pfctl -s states -vv') {
          // pf_print_state.c: the age line with PF_OPT_VERBOSE (-v), the id line only with PF_OPT_VERBOSE2 (-vv).
          const id = (st: { id: string }) => (line.endsWith('-vv') ? `   id: ${st.id.replace('/', ' creatorid: ')}\n` : '');
          return this.ok(this.states.map((st) => `${st.line}\n   age 00:01:02, expires in 23:59:58, 10:8 pkts, 1000:800 bytes, rule 0\n${id(st)}`).join(''));
        }
        if (args[0] === '-k' && args[1] === 'id') {
          const before = this.states.length;
          this.states = this.states.filter((st) => st.id !== args[3]);
          return before === this.states.length ? this.fail('killed 0 states') : this.ok();
        }
        if (a < 0) return this.ok();
        const anchor = args[a + 1]!;
        // -n: parse only (pfctl_load_anchors reads the files then too)
        if (args.includes('-n')) return this.loadAnchors(anchor, input ?? '', false);
        if (args.includes('-f')) {
          // a ruleset of `load anchor` lines only (the switch of published ports) leaves its own anchor without rules
          const text = input ?? '';
          const own = text.split('\n').some((l) => l.trim() !== '' && !l.startsWith('#') && !l.startsWith('load anchor '));
          if (own || !/^load anchor /m.test(text)) this.anchors.set(anchor, text);
          else this.anchors.delete(anchor);
          return this.loadAnchors(anchor, text, true);
        }
        if (args.includes('-F')) { this.anchors.delete(anchor); return this.ok(); }
        if (args.includes('-s')) return this.ok((this.anchors.get(anchor) ?? '').split('\n').filter((l) => l.startsWith('rdr') || l.startsWith('nat')).map((l) => `${l}\n`).join(''));
        return this.ok();
      }
      case 'zfs': {
        if (args[0] === 'clone') {
          const ds = args[args.length - 1]!;
          this.datasets.add(ds);
          const mp = args.find((x) => x.startsWith('mountpoint='))?.slice('mountpoint='.length);
          if (mp) this.mounts.push({ source: ds, path: mp, fstype: 'zfs' });
          return this.ok();
        }
        if (args[0] === 'destroy') {
          const ds = args[args.length - 1]!;
          this.datasets.delete(ds);
          this.mounts = this.mounts.filter((m) => m.source !== ds);
          return this.ok();
        }
        if (args[0] === 'list') {
          const target = args[args.length - 1]!;
          if (args.includes('snapshot')) return this.snapshots.has(target) ? this.ok(`${target}\n`) : this.fail('dataset does not exist');
          if (target === 'filesystem') return this.ok([...this.datasets].map((d) => `${d}\n`).join(''));
          return this.datasets.has(target) ? this.ok(`${target}\n`) : this.fail('dataset does not exist');
        }
        return this.ok();
      }
      case 'netstat': {
        if (args[0] !== '-I') return this.ok();
        const b = this.ifBytes.get(args[1] ?? '');
        // netstat.c: xo_err(EX_DATAERR, "interface %s not found")
        if (b === undefined || !this.interfaces.has(args[1]!)) return { exitCode: 65, stderr: `netstat: interface ${args[1]} not found\n` };
        // if.c intpr: one "interface" entry per address; the <Link#N> one has the interface's counters
        const entry = { name: args[1], flags: '0x8863', mtu: 1500, network: '<Link#5>', address: '02:5d:3a:0b:8c:0a', 'received-packets': 40, 'received-errors': 0, 'dropped-packets': 0, 'received-bytes': b.received, 'sent-packets': 31, 'send-errors': 0, 'sent-bytes': b.sent, collisions: 0 };
        return this.ok(JSON.stringify({ '__version': '1', statistics: { interface: [entry] } }) + '\n');
      }
      default:
        return this.ok();
    }
  }

  /**
   * pf.conf(5) `load anchor NAME from FILE` lines of a ruleset loaded into ANCHOR: parse.y
   * loadrule names them ANCHOR/NAME, pfctl_load_anchors reads each file into the same transaction.
   */
  private loadAnchors(anchor: string, text: string, commit: boolean): Answer {
    const loads: Array<[string, string]> = [];
    for (const m of text.matchAll(/^load anchor "([^"]+)" from "([^"]+)"$/gm)) {
      if (!existsSync(m[2]!)) return this.fail(`pfctl: cannot open the main config file!: ${m[2]}: No such file or directory`);
      loads.push([`${anchor}/${m[1]}`, readFileSync(m[2]!, 'utf8')]);
    }
    if (commit) for (const [name, rules] of loads) this.anchors.set(name, rules);
    return this.ok();
  }

  /** Every jail below NAME (pr_childcount counts all descendants). */
  private descendants(name: string): number {
    return [...this.jails.keys()].filter((n) => n.startsWith(`${name}.`)).length;
  }

  private parentOf(name: string): { max: number; securelevel: number; enforceStatfs: number } {
    const i = name.lastIndexOf('.');
    if (i < 0) return { max: JAIL_MAX, securelevel: this.securelevel, enforceStatfs: 0 };
    const p = this.jails.get(name.slice(0, i));
    return { max: p?.childrenMax ?? 0, securelevel: p?.securelevel ?? -1, enforceStatfs: p?.enforceStatfs ?? 0 };
  }

  private jail(args: string[]): Answer {
    if (args[0] === '-f' && args[2] === '-c') {
      const name = args[3]!;
      if (this.jails.has(name)) return this.fail(`jail: ${name}: already exists`);
      const conf = readFileSync(args[1]!, 'utf8');
      const num = (k: string): number | undefined => {
        const m = new RegExp(`\\t${k.replace('.', '\\.')} = "(-?\\d+)";`).exec(conf);
        return m ? Number(m[1]) : undefined;
      };
      const own = { childrenMax: num('children.max') ?? 0, securelevel: num('securelevel') ?? -1, enforceStatfs: num('enforce_statfs') ?? 0 };
      const parent = this.parentOf(name);
      const prefixes = name.split('.').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('.'));
      if (prefixes.some((p) => !this.jails.has(p))) return this.fail(`jail: ${name}: jail not found`);
      // kern_jail.c kern_jail_set: each ancestor must have room, and the new jail may not exceed its parent.
      const full = prefixes.some((p) => this.descendants(p) >= (this.jails.get(p)!.childrenMax ?? 0));
      if (full || own.childrenMax >= parent.max || own.securelevel < parent.securelevel || own.enforceStatfs < parent.enforceStatfs) {
        return this.fail(`jail: ${name}: Operation not permitted`);
      }
      const path = /\tpath = "([^"]*)";/.exec(conf)?.[1] ?? '';
      const mounts: string[] = [];
      const fstab = /\tmount\.fstab = "([^"]*)";/.exec(conf)?.[1];
      if (fstab) {
        for (const l of readFileSync(fstab, 'utf8').split('\n')) {
          const f = l.split('\t');
          if (l.startsWith('#') || f.length < 3) continue;
          this.mounts.push({ source: f[0]!, path: f[1]!, fstype: f[2]!, ...(f[3] !== undefined ? { opts: f[3] } : {}) });
          mounts.push(f[1]!);
        }
      }
      this.mounts.push({ source: 'devfs', path: join(path, 'dev'), fstype: 'devfs' });
      mounts.push(join(path, 'dev'));
      const vif = /\tvnet\.interface = "([^"]*)";/.exec(conf)?.[1];
      if (vif) this.interfaces.delete(vif);
      this.jails.set(name, { jid: this.nextJid++, path, conf: args[1]!, mounts, ...own });
      if (vif) this.jails.get(name)!.mounts.push(`if:${vif}`);
      return this.ok(`${name}: created\n`);
    }
    if (args[0] === '-m') {
      const name = args.find((a) => a.startsWith('name='))?.slice(5) ?? '';
      const j = this.jails.get(name);
      if (!j) return this.fail(`jail: "${name}" not found`);
      const max = args.find((a) => a.startsWith('children.max='));
      if (max !== undefined) {
        const n = Number(max.slice('children.max='.length));
        // kern_jail.c: `if (childmax >= ppr->pr_childmax) error = EPERM`.
        if (!Number.isInteger(n) || n >= this.parentOf(name).max) return this.fail(`jail: ${name}: Operation not permitted`);
        j.childrenMax = n;
      }
      const level = args.find((a) => a.startsWith('securelevel='));
      if (level !== undefined) j.securelevel = Math.max(j.securelevel ?? -1, Number(level.slice('securelevel='.length)));
      return this.ok();
    }
    const name = args[args.length - 1]!;
    const j = this.jails.get(name);
    if (!j) return this.fail(`jail: "${name}" not found`);
    for (const m of j.mounts) {
      if (m.startsWith('if:')) { this.interfaces.add(m.slice(3)); continue; }
      const i = this.mounts.map((x) => x.path).lastIndexOf(m);
      if (i >= 0 && args[0] !== '-R') this.mounts.splice(i, 1);
    }
    // jail(8) -r: every process of the jail is killed, then the jail goes
    this.processes.killJail(name);
    this.net.jailRemoved(name);
    this.jails.delete(name);
    this.procs.delete(name);
    return this.ok(`${name}: removed\n`);
  }

  /** getopt(3)'s answer to `TOOL -j` without a value, with and without the option. */
  private getoptJ(tool: string): Answer {
    return { exitCode: 1, stderr: `${tool}: ${this.jailOptions ? 'option requires an argument' : 'illegal option'} -- j\nusage: ${tool} …\n` };
  }

  private ifconfig(args: string[]): Answer {
    if (args.length === 1 && args[0] === '-j') return this.getoptJ('ifconfig');
    if (args[0] === '-l') return this.ok([...this.interfaces].join(' ') + '\n');
    if (args[0] === '-j') {
      if (args[1] !== undefined) this.net.jailIfconfig(args[1], args.slice(2));
      return this.ok();
    }
    // ifconfig(8) IF inet: that family's addresses only; em0 is the external interface
    if (args[0] === 'em0' && args[1] === 'inet' && args.length === 2) return this.ok(`em0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n\tinet ${this.extAddress} netmask 0xffffff00 broadcast 192.0.2.255\n`);
    if (args[0] === 'epair' && args[1] === 'create') {
      const n = this.nextIf++;
      this.interfaces.add(`epair${n}a`).add(`epair${n}b`);
      this.net.paired(`epair${n}a`, `epair${n}b`);
      // ifconfig.c: the arguments after `create` apply to the new interface (`name` renames it)
      if (args[2] === 'name' && args[3] !== undefined) {
        this.interfaces.delete(`epair${n}a`);
        this.interfaces.add(args[3]);
        this.net.renamed(`epair${n}a`, args[3]);
        return this.ok(`epair${n}a\n${args[3]}\n`);
      }
      return this.ok(`epair${n}a\n`);
    }
    if (args[0] === 'bridge' && args[1] === 'create') {
      const n = this.nextIf++;
      const named = args[2] === 'name' ? args[3] : undefined;
      this.interfaces.add(named ?? `bridge${n}`);
      return this.ok(named !== undefined ? `bridge${n}\n${named}\n` : `bridge${n}\n`);
    }
    const name = args[0]!;
    if (/^lo\d+$/.test(name) && args[1] === 'create') { this.interfaces.add(name); return this.ok(); }
    if (!this.interfaces.has(name)) return this.fail(`ifconfig: interface ${name} does not exist`);
    if (args[1] === 'name') {
      this.interfaces.delete(name);
      this.interfaces.add(args[2]!);
      this.net.renamed(name, args[2]!);
      return this.ok(`${args[2]}\n`);
    }
    this.net.hostIfconfig(args);
    if (args[1] === 'destroy') {
      // epair(4): destroying one end destroys its peer, whatever it is called now (an end a test
      // added by hand, without `epair create`, pairs by name: NAMEa with NAMEb).
      const peer = this.net.peers.get(name) ?? (name.endsWith('a') ? name.replace(/a$/, 'b') : undefined);
      this.net.destroyed(name);
      this.interfaces.delete(name);
      if (peer !== undefined) this.interfaces.delete(peer);
      return this.ok();
    }
    return this.ok();
  }
}

import type { ContainerConfig, RuntimeNetwork } from '../../src/runtime/types.js';
import type { PortPublish } from '../../src/spec/types.js';
import { bridgeName, epairNames } from '../../src/runtime/freebsd/names.js';

/** A container config as supervise/ would resolve it, under the test's state root. */
export function freebsdConfig(root: string, over: Partial<ContainerConfig> & { name: string }): ContainerConfig {
  return {
    runId: 'run1',
    dir: join(root, 'containers', over.name),
    root: { layers: [join(root, 'images', 'layers', 'busybox')], ephemeral: false },
    argv: ['/bin/httpd', '-f', '-p', '80', '-h', '/www'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello'],
    workdir: '/',
    user: 'root',
    hostname: over.name,
    mounts: [],
    limits: {},
    wait: 'all',
    tty: false,
    interactive: false,
    network: { mode: 'host' },
    stopSignal: 'SIGTERM',
    jail: {},
    security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: true },
    output: { kind: 'inherit' },
    ...over,
  };
}

/** A bridge attachment as net/ would lease it (epair names as the FreeBSD driver derives them). */
export function bridgeNet(container: string, address: string, publish: PortPublish[] = [], address6?: string): RuntimeNetwork {
  const ep = epairNames(container);
  return {
    mode: 'bridge',
    network: 'front',
    bridge: bridgeName('front'),
    address,
    gateway: '10.77.3.1',
    // A dual-stack network: fd00:77:3::/64 with its gateway ::1 (net/ leases the same host number).
    ...(address6 !== undefined ? { address6, gateway6: 'fd00:77:3::1' } : {}),
    hostIf: ep.host,
    containerIf: ep.jail,
    publish,
    hosts: ['10.77.3.6\tdb'],
    dns: ['10.77.3.1'],
  };
}
