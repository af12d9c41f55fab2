import { rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { config, containerPaths, readJsonFile, errorMessage, isVesselError, initLog, log } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import { Supervisor } from './supervisor.js';
import { NO_RESTARTS, decideRestart } from './restart.js';
import { clearStopRequest, stopRequested } from './control.js';

/** Tell the waiting `vessel run -d` how the first start went; fd 1 is its pipe, used once. */
function report(line: string): void {
  try {
    writeSync(1, line + '\n');
  } catch { /* the CLI went away: nothing to tell */ }
}

/**
 * The detached supervisor: runs one container, applies its restart policy with docker's back-off,
 * and exits when the container is done or was stopped. The container dies with this process
 * (pdeathsig), so nothing outlives a SIGKILL of it but what `vessel gc` removes.
 */
export async function superviseDetached(name: string): Promise<number> {
  await initLog({ pretty: false });
  const request = join(containerPaths(config(), name).dir, 'run-request.json');
  const req = await readJsonFile<{ spec: ContainerSpec; autoRemove: boolean }>(request);
  if (!req) {
    report(`error ${JSON.stringify({ message: `no run request for container ${name}` })}`);
    return 125;
  }
  rmSync(request, { force: true });
  clearStopRequest(name);
  let sup: Supervisor | undefined;
  let stopAsked = false;
  let wake: (() => void) | undefined;
  const onStop = () => {
    stopAsked = true;
    wake?.();
    void sup?.stop().catch(() => undefined);
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', () => undefined); // the terminal that started us may go away

  let first = true;
  // A new `run -d` starts the counter over (docker's RestartCount of a new container).
  let count = NO_RESTARTS;
  for (;;) {
    sup = new Supervisor(req.spec, { mode: 'detached', autoRemove: req.autoRemove, restartCount: count });
    try {
      await sup.start();
    } catch (e) {
      if (first) {
        report(`error ${JSON.stringify({ message: errorMessage(e), ...(isVesselError(e) ? { hint: e.hint, exitCode: e.exitCode } : {}) })}`);
        return 125;
      }
      log().error({ container: name, err: errorMessage(e) }, 'restart failed; giving up');
      return 1;
    }
    if (first) report(`ok ${sup.pid}`);
    first = false;
    const status = await sup.wait();
    const up = sup.uptimeMs();
    log().info({ container: name, code: status.code, reason: status.reason, uptimeMs: up }, 'container exited');
    if (stopAsked || stopRequested(name) || req.autoRemove) break;
    const decision = decideRestart(req.spec.restart, status, count, up);
    count = decision.count;
    sup.recordRestartCount(count);
    if (!decision.restart) break;
    log().info({ container: name, delayMs: decision.delayMs }, 'restarting');
    await Promise.race([sleep(decision.delayMs), new Promise<void>((r) => (wake = r))]);
    if (stopAsked || stopRequested(name)) break;
  }
  clearStopRequest(name);
  return 0;
}
