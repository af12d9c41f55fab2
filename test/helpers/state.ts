import { defaultSpec } from '../../src/spec/index.js';
import type { ContainerState } from '../../src/supervise/types.js';

/** A state file as a running container under vessel has it (unit tests of ps, inspect, metrics). */
export function stateFixture(name: string, patch: Partial<ContainerState> = {}): ContainerState {
  return {
    name,
    spec: defaultSpec(name, 'busybox:latest', 'file'),
    status: 'running',
    mode: 'vassal',
    runId: 'r1',
    createdAt: '2026-11-28T15:41:00.000Z',
    startedAt: '2026-11-28T15:41:34.000Z',
    restarts: 0,
    resources: [],
    autoRemove: false,
    ...patch,
  };
}
