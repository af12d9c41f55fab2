import { rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { config, containerPaths, readJsonFile, errorMessage, isVesselError, initLog, log } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import { Supervisor } from './supervisor.js';
import { HEALTHY_UPTIME_MS, restartDelayMs, shouldRestart } from './restart.js';
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
  let quickDeaths = 0;
  let failures = 0;
  for (;;) {
    sup = new Supervisor(req.spec, { mode: 'detached', autoRemove: req.autoRemove });
    const began = Date.now();
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
    const up = Date.now() - began;
    failures = status.code === 0 ? 0 : failures + 1;
    quickDeaths = up >= HEALTHY_UPTIME_MS ? 1 : quickDeaths + 1;
    log().info({ container: name, code: status.code, reason: status.reason, uptimeMs: up }, 'container exited');
    if (stopAsked || stopRequested(name) || req.autoRemove || !shouldRestart(req.spec.restart, status, failures, false)) break;
    const delay = restartDelayMs(quickDeaths);
    log().info({ container: name, delayMs: delay }, 'restarting');
    await Promise.race([sleep(delay), new Promise<void>((r) => (wake = r))]);
    if (stopAsked || stopRequested(name)) break;
  }
  clearStopRequest(name);
  return 0;
}
