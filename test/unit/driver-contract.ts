import { describe, expect, it } from 'vitest';
import { CONTRACT_CASES, runCase, type CaseNetwork } from '../../src/selftest/index.js';
import type { DoctorReport } from '../../src/doctor/index.js';
import type { ContainerConfig, Driver, ResourceKind } from '../../src/runtime/types.js';

/**
 * The driver contract, shared by the Linux and FreeBSD drivers. The cases themselves live in
 * src/selftest/cases/, so `vessel selftest` runs exactly these against a user's live host; here
 * each case becomes one test against the host a test file gives — the real one (Linux) or a
 * model of FreeBSD behind the recorder — through the same harness (src/selftest/harness.ts).
 * A case the host cannot run is SKIP with a reason; here every SKIP must be one the test file
 * expects (with its reason), and every other case must PASS.
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
  /** Where vessel-probe is, on this host. */
  probeDir: string;
  /** This host's `vessel doctor` report (made after setup). */
  doctor?: () => Promise<DoctorReport>;
  network?: () => CaseNetwork;
  /** Case id → the reason its SKIP must give on this host. */
  skips?: Record<string, RegExp>;
}

export function driverContract(name: string, makeDriver: () => Driver, opts: ContractOptions): void {
  describe(`driver contract: ${name}`, () => {
    for (const c of CONTRACT_CASES) {
      const skip = opts.skips?.[c.id];
      it(`${c.id}: ${skip ? 'SKIP' : c.title}`, async () => {
        await opts.setup?.();
        try {
          const host = {
            driver: makeDriver(),
            probeDir: opts.probeDir,
            ...(opts.discoverable === undefined ? {} : { discoverable: opts.discoverable }),
            ...(opts.stopSignal === undefined ? {} : { stopSignal: opts.stopSignal }),
            ...(opts.doctor === undefined ? {} : { doctor: await opts.doctor() }),
            ...(opts.network === undefined ? {} : { network: opts.network() }),
          };
          const outcome = await runCase(host, c, await opts.config());
          if (skip) {
            expect(outcome.status).toBe('skip');
            expect(outcome.reason).toMatch(skip);
          } else {
            expect(outcome).toEqual({ status: 'pass' });
          }
        } finally {
          await opts.teardown?.();
        }
      });
    }
  });
}
