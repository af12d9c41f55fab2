import { constants } from 'node:os';
import { signalName, signalNumber } from '../signals.js';
import { dirname, join } from 'node:path';
import { containerLayout, host, run } from '../../util/index.js';
import type {
  ContainerConfig, ContainerRef, Driver, ExecOptions, ExitStatus, Plan, Resource, StartHooks, StartedContainer, Stats,
} from '../types.js';
import { describePlan, type PlanRecord } from '../plan-records.js';
import { initBinary } from '../monitor-spawn.js';
import { jailExists, jailId, removeJail } from './jail8.js';
import { containerIdentity, filesIn, resolveIdentity } from './identity.js';
import { jailExecArgv } from './jail-exec.js';
import { cleanup, findLeftovers } from './leftovers.js';
import { freebsdMonitorRecords } from './monitor-plan.js';
import { assumedFacts, probes, rulesetProbe } from './probe.js';
import { jailPids, waitJailEmptyFor } from './ps.js';
import { removeRules } from './rctl.js';
import { jailUsage } from './usage.js';
import { planPlaceholders, renderStart } from './render.js';
import { startFreeBSD, writeFreeBSDPlan } from './start.js';
import { describeSteps } from './steps.js';

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
}

/**
 * The FreeBSD driver: a persistent jail created from a rendered jail.conf, rctl limits, VNET + pf
 * anchors, made in TypeScript (start.ts); the command run in it by the container's native monitor
 * (native/freebsd: a process descriptor, the reaper of every process of the jail's container,
 * Capsicum), as on Linux. Verified on Linux by transcripts (test/fixtures/freebsd/) and by the
 * monitor's C run against a test double of the FreeBSD kernel, not on FreeBSD in CI.
 */
export class FreeBSDDriver implements Driver {
  readonly os = 'freebsd' as const;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: FreeBSDDriverOptions = {}) {
    this.env = opts.env ?? process.env;
  }

  /** With a VIMAGE kernel assumed: a superset of what a kernel without it creates. */
  resources(cfg: ContainerConfig): Resource[] {
    return renderStart(cfg, assumedFacts(this.env)).resources;
  }

  plan(cfg: ContainerConfig): Plan {
    const p = renderStart(cfg, assumedFacts(this.env));
    const ph = planPlaceholders(cfg);
    const plan = containerLayout(cfg.dir).plan;
    return {
      os: 'freebsd',
      // the container's records of the monitor's plan, one per line, as an operator reviews them
      files: [...p.files, ...p.rootFiles, ...p.rulesets, { path: plan, content: describePlan(this.monitorRecords(cfg)) }],
      commands: [
        ...probes(cfg, this.env).map((x) => x.argv),
        ...rulesetProbe(cfg),
        ...describeSteps(p.rootSteps, ph),
        ...describeSteps(p.steps, ph),
        [initBinary(), 'monitor', plan],
      ],
    };
  }

  /** Pure: on a ZFS root not cloned yet, the user's ids are placeholders (the start reads them from the clone). */
  monitorRecords(cfg: ContainerConfig): PlanRecord[] {
    return freebsdMonitorRecords(cfg, containerIdentity(cfg, { rootReady: false }));
  }

  async writePlan(cfg: ContainerConfig, supervision: readonly PlanRecord[], planPath?: string): Promise<string> {
    return (await writeFreeBSDPlan(cfg, supervision, this.env, planPath)).plan;
  }

  async start(cfg: ContainerConfig, hooks: StartHooks = {}): Promise<StartedContainer> {
    return startFreeBSD(cfg, hooks, this.env, this.resources(cfg));
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
