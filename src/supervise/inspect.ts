import type { Stats } from '../runtime/index.js';
import { effectiveStatus } from './state.js';
import type { ContainerState } from './types.js';

/**
 * What `vessel inspect` prints for one container: its state file with the status that is true
 * now (a dead supervisor makes `running` `dead`), its health as docker's inspect has it
 * (State.Health: status, failing streak, the last results), and live usage when it runs.
 */
export type InspectView = Omit<ContainerState, 'status'> & { status: ReturnType<typeof effectiveStatus>; stats?: Stats };

export function inspectView(s: ContainerState, stats?: Stats): InspectView {
  return { ...s, status: effectiveStatus(s), ...(stats ? { stats } : {}) };
}
