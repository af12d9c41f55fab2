import { describe, expect, it } from 'vitest';
import { host, setHostRunner } from '../../src/util/host.js';
import type { ContainerConfig, Driver, Resource, ResourceKind } from '../../src/runtime/types.js';

/**
 * The driver contract, shared by the Linux and FreeBSD drivers: what the supervisor relies on
 * whatever the OS. Each driver's test file calls driverContract() with a host to run against —
 * the real one (Linux) or a model of FreeBSD behind the recorder.
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

/** Run fn, counting every host command (run or spawn) it issues, whatever the current runner. */
export function countHostCommands<T>(fn: () => T): { result: T; count: number } {
  const inner = host();
  let count = 0;
  const restore = setHostRunner({
    run: (argv, opts) => { count++; return inner.run(argv, opts); },
    spawn: (argv, opts) => { count++; return inner.spawn(argv, opts); },
  });
  try {
    return { result: fn(), count };
  } finally {
    restore();
  }
}

const key = (r: Resource): string => `${r.kind} ${r.id}`;

export function driverContract(name: string, makeDriver: () => Driver, opts: ContractOptions): void {
  const wanted = (rs: Resource[]): Resource[] => rs.filter((r) => opts.discoverable === undefined || opts.discoverable.includes(r.kind));

  async function withHost<T>(fn: () => Promise<T>): Promise<T> {
    await opts.setup?.();
    try {
      return await fn();
    } finally {
      await opts.teardown?.();
    }
  }

  describe(`driver contract: ${name}`, () => {
    it('resources() runs nothing and lists, before start, every resource start() creates', () =>
      withHost(async () => {
        const d = makeDriver();
        const cfg = await opts.config();
        const { result: planned, count } = countHostCommands(() => d.resources(cfg));
        expect(count).toBe(0);
        expect(planned.length).toBeGreaterThan(0);
        const started = await d.start(cfg);
        try {
          const created = new Set(started.resources.map(key));
          for (const r of planned) expect(created.has(key(r)), `${key(r)} listed by resources() but not by start()`).toBe(true);
        } finally {
          await d.stop({ name: cfg.name, pid: started.pid, resources: started.resources }, opts.stopSignal ?? 'SIGTERM', 5);
          await started.exited;
          await d.cleanup(started.resources);
        }
      }));

    it('plan() is pure: the same input gives the same output and runs no host command', () =>
      withHost(async () => {
        const d = makeDriver();
        const cfg = await opts.config();
        const a = countHostCommands(() => d.plan(cfg));
        const b = countHostCommands(() => d.plan(structuredClone(cfg)));
        expect(a.count + b.count).toBe(0);
        expect(b.result).toEqual(a.result);
        expect(a.result.commands.length).toBeGreaterThan(0);
      }));

    it('cleanup() of resources that do not exist succeeds, and again', () =>
      withHost(async () => {
        const d = makeDriver();
        const cfg = await opts.config();
        const planned = d.resources(cfg);
        await d.cleanup(planned);
        await d.cleanup(planned);
        expect(wanted(await d.findLeftovers(cfg.name))).toEqual([]);
      }));

    it('findLeftovers() finds what a start left when its supervisor was killed; nothing once cleaned', () =>
      withHost(async () => {
        const d = makeDriver();
        const cfg = await opts.config();
        const started = await d.start(cfg);
        // The supervisor "dies" here: no stop, no cleanup. A new one only knows the name.
        const left = await d.findLeftovers(cfg.name);
        const found = new Set(left.map(key));
        for (const r of wanted(started.resources)) expect(found.has(key(r)), `leftover ${key(r)} not found`).toBe(true);
        await d.cleanup(left);
        await started.exited;
        expect(wanted(await d.findLeftovers(cfg.name))).toEqual([]);
      }));
  });
}
