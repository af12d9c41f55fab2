import { closeSync, mkdirSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { signalName, signalNumber } from '../signals.js';
import { dirname, join } from 'node:path';
import { writeFileAtomic, config, host, run, type SpawnOptions, withLock } from '../../util/index.js';
import type {
  ContainerConfig, ContainerRef, Driver, ExecOptions, ExitStatus, Plan, Resource, StartedContainer, Stats,
} from '../types.js';
import { jailExists, jailId, removeJail } from './jail8.js';
import { filesIn, resolveIdentity } from './identity.js';
import { jailExecArgv } from './jail-exec.js';
import { cleanup, findLeftovers } from './leftovers.js';
import { assertMountPointsInside, assertNoSymlinks } from './mount.js';
import { containerFiles } from './names.js';
import { assumedFacts, probeHost, probes, rulesetProbe } from './probe.js';
import { jailPids, waitJailEmpty, waitJailEmptyFor } from './ps.js';
import { removeRules } from './rctl.js';
import { jailUsage } from './usage.js';
import { mainArgv, planPlaceholders, renderStart } from './render.js';
import { describeSteps, runSteps } from './steps.js';

/** `SIGTERM` / `TERM` / `15` → `TERM`, the form kill(1) -s and pkill(1) take (one signal table: runtime/signals). */
export function killSignalArg(sig: string): string {
  return signalName(signalNumber(sig)).replace(/^SIG/, '');
}

function exitStatus(end: { code: number | null; signal: NodeJS.Signals | null }): ExitStatus {
  if (end.signal !== null) {
    const n = constants.signals[end.signal] ?? 0;
    return { code: 128 + n, signal: end.signal, oomKilled: false, reason: `killed by ${end.signal}` };
  }
  const code = end.code ?? 0;
  return { code, oomKilled: false, reason: `exited ${code}` };
}

function jailOf(target: ContainerRef): string {
  return target.resources.find((r) => r.kind === 'jail')?.id ?? target.name;
}

function confOf(target: ContainerRef): string | undefined {
  return target.resources.find((r) => r.kind === 'jail')?.detail?.conf;
}

export interface FreeBSDDriverOptions {
  env?: NodeJS.ProcessEnv;
  /** Polling interval of the liveness fallback (no pwait). */
  pollMs?: number;
}

/**
 * The FreeBSD driver: a persistent jail created from a rendered jail.conf, the main command in
 * the foreground with vessel-jail-exec (jail-exec.ts says why not jexec(8)), liveness by the jail's processes, rctl limits, VNET + pf anchors.
 * Verified on Linux by transcripts (test/fixtures/freebsd/), not run in CI.
 */
export class FreeBSDDriver implements Driver {
  readonly os = 'freebsd' as const;
  private readonly env: NodeJS.ProcessEnv;
  private readonly pollMs: number;

  constructor(opts: FreeBSDDriverOptions = {}) {
    this.env = opts.env ?? process.env;
    this.pollMs = opts.pollMs ?? 500;
  }

  /** With a VIMAGE kernel assumed: a superset of what a kernel without it creates. */
  resources(cfg: ContainerConfig): Resource[] {
    return renderStart(cfg, assumedFacts(this.env)).resources;
  }

  plan(cfg: ContainerConfig): Plan {
    const p = renderStart(cfg, assumedFacts(this.env));
    const ph = planPlaceholders(cfg);
    return {
      os: 'freebsd',
      files: [...p.files, ...p.rootFiles, ...p.rulesets],
      commands: [
        ...probes(cfg, this.env).map((x) => x.argv),
        ...rulesetProbe(cfg),
        ...describeSteps(p.rootSteps, ph),
        ...describeSteps(p.steps, ph),
        p.main,
      ],
    };
  }

  async start(cfg: ContainerConfig): Promise<StartedContainer> {
    // Probes first: a missing kernel feature stops the start before anything exists.
    const facts = await probeHost(cfg, this.env);
    const p = renderStart(cfg, facts);
    let output: number | undefined;
    try {
      for (const f of p.files) {
        mkdirSync(dirname(f.path), { recursive: true });
        writeFileAtomic(f.path, f.content);
      }
      const vars = await runSteps(p.rootSteps);
      const rootfs = containerFiles(cfg.dir).rootfs;
      assertMountPointsInside(cfg);
      assertNoSymlinks(rootfs, p.rootFiles.map((f) => f.path.slice(rootfs.length)));
      for (const f of p.rootFiles) {
        mkdirSync(dirname(f.path), { recursive: true });
        writeFileAtomic(f.path, f.content);
      }
      // Bridge creation and the host-wide portacl sysctl are read-modify-write: one start at a time.
      const shared = cfg.network.mode === 'bridge' || cfg.security.portacl.length > 0;
      if (shared) await withLock(join(config().run, 'locks', 'freebsd-host.lock'), () => runSteps(p.steps, vars), { what: 'FreeBSD host networking' });
      else await runSteps(p.steps, vars);

      const stdio: SpawnOptions['stdio'] = [cfg.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
      if (cfg.output.kind === 'file') {
        output = openSync(cfg.output.path, 'a');
        stdio[1] = output;
        stdio[2] = output;
      }
      // The root exists now (a ZFS clone too): the user's ids are read from the image it holds.
      const proc = host().spawn(mainArgv(cfg, { rootReady: true }), { stdio });
      const exited = (async (): Promise<ExitStatus> => {
        const status = exitStatus(await proc.exited);
        if (output !== undefined) closeSync(output);
        // Jail semantics: the container lives while any process of the jail lives.
        if (cfg.wait === 'all') await waitJailEmpty(p.jail, { pollMs: this.pollMs });
        return status;
      })();
      // What was recorded before start (planned for a VIMAGE kernel) plus anything this host added.
      const planned = this.resources(cfg);
      const seen = new Set(planned.map((r) => `${r.kind} ${r.id}`));
      const resources = [...planned, ...p.resources.filter((r) => !seen.has(`${r.kind} ${r.id}`))];
      return { pid: proc.pid, resources, exited };
    } catch (e) {
      if (output !== undefined) closeSync(output);
      await cleanup(p.resources).catch(() => undefined);
      throw e;
    }
  }

  async exec(target: ContainerRef, opts: ExecOptions): Promise<number> {
    // The running root's own passwd (image layers plus whatever the container changed).
    const conf = confOf(target);
    const rootfs = conf !== undefined ? join(dirname(conf), 'rootfs') : undefined;
    const user = opts.user ?? 'root';
    const identity = resolveIdentity(user, rootfs !== undefined ? filesIn([rootfs], rootfs) : { where: 'no root recorded' });
    const argv = jailExecArgv({ jail: jailOf(target), argv: opts.argv, env: opts.env, workdir: opts.workdir ?? '/', identity, user });
    const proc = host().spawn(argv, { stdio: [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
    return exitStatus(await proc.exited).code;
  }

  async signal(target: ContainerRef, signal: string, scope: 'main' | 'all'): Promise<void> {
    const sig = killSignalArg(signal);
    if (scope === 'main' && target.pid !== undefined) {
      await run(['kill', '-s', sig, String(target.pid)], { allowFailure: true });
      return;
    }
    const jid = await jailId(jailOf(target));
    // pkill(1) -j takes jail ids; it exits 1 when nothing matched (already gone).
    if (jid !== undefined) await run(['pkill', `-${sig}`, '-j', jid], { allowFailure: true });
  }

  async stop(target: ContainerRef, stopSignal: string, timeoutSec: number): Promise<void> {
    const jail = jailOf(target);
    const jid = await jailId(jail);
    if (jid !== undefined) {
      await run(['pkill', `-${killSignalArg(stopSignal)}`, '-j', jid], { allowFailure: true });
      if (!(await waitJailEmptyFor(jail, timeoutSec * 1000))) {
        await run(['pkill', '-KILL', '-j', jid], { allowFailure: true });
      }
      await removeJail(jail, confOf(target));
    }
    // rctl(8) rules outlive the jail they name: removed at stop, not left for the next one.
    if (target.resources.some((r) => r.kind === 'rctl')) await removeRules(jail);
  }

  cleanup(resources: Resource[]): Promise<void> {
    return cleanup(resources);
  }

  findLeftovers(name: string): Promise<Resource[]> {
    return findLeftovers(name);
  }

  async stats(target: ContainerRef): Promise<Stats> {
    const jail = jailOf(target);
    // jls(8) -j: racct forgets a removed jail, and a stopped container has no usage to show.
    if (!(await jailExists(jail))) return {};
    const hostIf = target.resources.find((r) => r.kind === 'interface' && r.detail?.type === 'epair' && r.detail.peer !== undefined)?.id;
    const s = await jailUsage(jail, hostIf);
    // without RACCT (kern.racct.enable=0) rctl -u fails: count the jail's processes instead
    if (s.pids === undefined) s.pids = (await jailPids(jail)).length;
    return s;
  }
}
