import { errorMessage, config, containerPaths } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import type { ExitStatus } from '../runtime/index.js';
import type { ContainerState } from './types.js';
import { prepareRun, recordStarted } from './prepare.js';
import { releaseRun } from './release.js';
import { supervisionRecords } from './plan.js';
import { stopMarker } from './control.js';
import { readRawState } from './state.js';

/**
 * A foreground run handed off: the native front end (native/front/) asked `vessel up` to prepare
 * it and then execs the container's monitor itself, in the user's terminal, so no Node process
 * waits for it. Prepared as every start is (prepare.ts: recorded before anything exists); the
 * front end's pid is the monitor's (exec keeps it), so it is the supervisor of record — and its
 * process resource — from the first moment: a front end killed before or after the exec leaves a
 * state that `vessel gc` and the next start clean up. The plan tells the monitor to report its
 * start to vessel up and to ask it for the release at the end (`vessel _release` if vessel up is
 * gone by then).
 */
export interface HandoffOptions {
  /** The front end's pid, which the monitor will have. */
  pid: number;
  autoRemove: boolean;
  service: string;
  releaseArgv: string[];
}

export async function prepareHandoff(spec: ContainerSpec, o: HandoffOptions): Promise<string> {
  const name = spec.name;
  const paths = containerPaths(config(), name);
  const p = await prepareRun(spec, { mode: 'foreground', autoRemove: o.autoRemove, output: { kind: 'inherit' }, supervisorPid: o.pid, monitorPid: o.pid });
  try {
    await p.rules;
    return p.driver.writePlan(p.cfg, supervisionRecords(spec, p.cfg, {
      mode: 'foreground',
      statusPath: paths.status,
      stopMarker: stopMarker(name),
      service: o.service,
      releaseArgv: o.releaseArgv,
      parentPid: 0,
    }));
  } catch (e) {
    await releaseRun(name, { exit: { code: 125, oomKilled: false, reason: errorMessage(e) } }).catch(() => undefined);
    throw e;
  }
}

/** The handed-off monitor says its container runs: the state says so too (`vessel ps`, stop). */
export async function handoffStarted(name: string, monitorPid: number, initPid: number): Promise<void> {
  const s = await readRawState(name);
  if (!s || s.supervisorPid !== monitorPid) return; // another start of this name meanwhile
  await recordStarted({ spec: s.spec, state: s }, { pid: initPid, monitorPid, resources: [{ kind: 'process', id: String(initPid), detail: { role: 'init' } }] });
}

/**
 * What a foreground user is told beyond the exit code, as the waiting CLI says it (cli/run-action.ts):
 * an OOM kill, or a command that could not start.
 */
export function exitNote(name: string, st: ExitStatus): string | undefined {
  if (st.oomKilled || (st.code >= 125 && st.code <= 127 && st.reason !== `exited ${st.code}`)) return `${name}: ${st.reason}`;
  return undefined;
}

/**
 * The release a monitor asks vessel up for at the end of its container's life: a detached one's
 * (nothing to tell anybody), or a handed-off foreground one's, whose user is told what the waiting
 * CLI would have said.
 */
export async function releaseMonitored(name: string, monitorPid: number): Promise<string | undefined> {
  const before: ContainerState | undefined = await readRawState(name);
  if (before?.mode !== 'foreground' || before.supervisorPid !== monitorPid) {
    await releaseRun(name);
    return undefined;
  }
  const exit = (await releaseRun(name, { runId: before.runId }))?.lastExit;
  if (!exit) return undefined;
  const { at: _at, ...plain } = exit;
  return exitNote(name, plain);
}
