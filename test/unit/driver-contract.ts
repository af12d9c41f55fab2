import { describe, it } from 'vitest';
import { CONTRACT_CASES } from '../../src/selftest/index.js';
import type { ContainerConfig, Driver, ResourceKind } from '../../src/runtime/types.js';

/**
 * The driver contract, shared by the Linux and FreeBSD drivers. The cases themselves live in
 * src/selftest/cases.ts, so `vessel selftest` runs exactly these against a user's live host;
 * here each case becomes one test against the host a test file gives — the real one (Linux) or a
 * model of FreeBSD behind the recorder.
 */
export interface ContractOptions {
  /** A fresh container config for this host; its command should run until stopped (or end soon). */
  config: () => ContainerConfig | Promise<ContainerConfig>;
  /** Called before / after each case: install and remove the host runner, temp dirs … */
  setup?: () => void | Promise<void>;
  teardown?: () => void | Promise<void>;
  /** Resource kinds findLeftovers() must find on this OS (default: every kind resources() lists). */
  discoverable?: ResourceKind[];
  stopSignal?: string;
}

export function driverContract(name: string, makeDriver: () => Driver, opts: ContractOptions): void {
  describe(`driver contract: ${name}`, () => {
    for (const c of CONTRACT_CASES) {
      it(c.title, async () => {
        await opts.setup?.();
        try {
          const host = {
            driver: makeDriver(),
            ...(opts.discoverable === undefined ? {} : { discoverable: opts.discoverable }),
            ...(opts.stopSignal === undefined ? {} : { stopSignal: opts.stopSignal }),
          };
          await c.run(host, await opts.config());
        } finally {
          await opts.teardown?.();
        }
      });
    }
  });
}
