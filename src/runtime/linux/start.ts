import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { VesselError, host, writeFileAtomic, config } from '../../util/index.js';
import type { ContainerConfig, ExitStatus, Resource, StartHooks, StartedContainer } from '../types.js';
import { cgroupLayout, cgroupResources, cgroupSet, createCgroups, oomKills, waitEmpty, killAll, type CgroupSet } from './cgroup.js';
import { renderRunConfig } from './initconf.js';
import { initBinary, runPaths } from './paths.js';
import { onInitMessages } from './channel.js';
import { signalName, signalNumber } from '../signals.js';

export function cgroupLeaf(cfg: ContainerConfig): string {
  return `${cfg.name}.${cfg.runId}`;
}

export function linuxResources(cfg: ContainerConfig): Resource[] {
  const set = cgroupSet(cgroupLayout(), config().cgroupParent, cgroupLeaf(cfg));
  return cgroupResources(set);
}

/** A memory limit as people write it: binary units (vessel's spec parses 64M as 64 MiB). */
function formatLimit(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n} bytes`;
}

/**
 * Start a container: cgroups with limits, then one vessel-init process that builds the namespaces
 * and root and becomes the container's init. Resolves once the init reports "ready" (after the
 * optional beforeExec hook ran and the command was released).
 */
export async function startLinux(cfg: ContainerConfig, hooks: StartHooks = {}): Promise<StartedContainer> {
  const layout = cgroupLayout();
  const set = cgroupSet(layout, config().cgroupParent, cgroupLeaf(cfg));
  const paths = runPaths(cfg.dir);
  mkdirSync(paths.rootfs, { recursive: true });
  if (cfg.root.ephemeral) mkdirSync(paths.scratch, { recursive: true });
  else {
    mkdirSync(paths.upper, { recursive: true });
    mkdirSync(paths.work, { recursive: true });
  }
  createCgroups(layout, config().cgroupParent, set, cfg.limits);
  const sync = hooks.beforeExec !== undefined;
  // 0600: the config holds the container's environment, which may carry secrets.
  writeFileAtomic(paths.initConfig, renderRunConfig(cfg, paths, set.dirs, { ppid: process.pid, sync }), 0o600);

  let outFd: number | undefined;
  if (cfg.output.kind === 'file') outFd = openSync(cfg.output.path, 'a', 0o640);
  const out = outFd ?? 'inherit';
  const child = host().spawn([initBinary(), 'run', paths.initConfig], {
    stdio: [cfg.interactive ? 'inherit' : 'ignore', out, out, 'pipe'],
    // A session of its own: a terminal's ^C reaches the supervisor only, which forwards it once
    // (otherwise the init would get it too and the command would see it twice).
    detached: true,
  });
  if (outFd !== undefined) closeSync(outFd);
  const channel = child.pipes[3] as Socket | null;
  if (!channel) throw new VesselError('E_RUNTIME', 'vessel-init: no status channel');

  let initPid = 0;
  let setupError: string | undefined;
  let execError: { code: number; message: string } | undefined;
  let mainExit: number | undefined;

  // The hook (network plumbing) starts as soon as the init exists, overlapping with the root's
  // setup; the command is released ("go") once both are done.
  let hook: Promise<void> | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onInitMessages(channel, (m) => {
      switch (m.kind) {
        case 'pid':
          initPid = m.pid;
          if (hooks.beforeExec) {
            hook = hooks.beforeExec(initPid);
            hook.catch(() => undefined); // handled at "ready"
          }
          break;
        case 'ready':
          if (!hook) { resolve(); break; }
          hook.then(
            () => { channel.write('go\n'); resolve(); },
            (e: unknown) => { child.kill('SIGKILL'); reject(e); },
          );
          break;
        case 'error': setupError = m.message; break;
        case 'notfound': execError = { code: 127, message: m.message }; break;
        case 'cannotrun': execError = { code: 126, message: m.message }; break;
        case 'main-exit': mainExit = m.code; break;
      }
    });
    child.exited.then(() => {
      reject(new VesselError('E_RUNTIME', `container ${cfg.name}: ${setupError ?? 'init exited before the container was ready'}`));
    }, reject);
  });

  const exited: Promise<ExitStatus> = child.exited.then(async ({ code, signal }) => {
    rmSync(paths.initConfig, { force: true });
    // init exits when the last process is gone; make sure of it before anyone removes cgroups
    if (!(await waitEmpty(set, 2000))) await killAll(set);
    const status = exitStatus(code, signal, mainExit, execError, setupError, oomKills(layout, set) > 0, cfg);
    channel.destroy();
    return status;
  });

  try {
    await ready;
  } catch (e) {
    await exited.catch(() => undefined);
    throw e;
  }
  const resources: Resource[] = [
    ...cgroupResources(set),
    { kind: 'process', id: String(child.pid), detail: { role: 'monitor' } },
    { kind: 'process', id: String(initPid), detail: { role: 'init' } },
  ];
  return { pid: initPid, resources, exited };
}

function exitStatus(
  code: number | null,
  signal: NodeJS.Signals | null,
  mainExit: number | undefined,
  execError: { code: number; message: string } | undefined,
  setupError: string | undefined,
  oom: boolean,
  cfg: ContainerConfig,
): ExitStatus {
  let c = code ?? (signal ? 128 + signalNumber(signal) : 125);
  if (mainExit !== undefined && code !== null) c = mainExit;
  if (execError) return { code: execError.code, oomKilled: false, reason: execError.message };
  // the command's own process failed before exec (working directory, user, privileges)
  if (setupError && c === 125) return { code: 125, oomKilled: false, reason: setupError };
  if (oom && (c === 137 || c === 128 + 9)) {
    const limit = cfg.limits.memoryBytes;
    return { code: 137, signal: 'SIGKILL', oomKilled: true, reason: `out of memory${limit ? ` (limit ${formatLimit(limit)})` : ''}` };
  }
  if (c > 128 && c < 128 + 65) {
    const name = signalName(c - 128);
    return { code: c, signal: name, oomKilled: oom, reason: `killed by ${name}` };
  }
  return { code: c, oomKilled: oom, reason: `exited ${c}` };
}

