import type { Resource } from '../../runtime/index.js';
import { check, countHostCommands, type ContractCase, type ContractHost } from '../contract.js';

/** The cases about records and recovery: resources listed first, plans pure, cleanup idempotent, leftovers found. */

const key = (r: Resource): string => `${r.kind} ${r.id}`;

function wanted(h: ContractHost, rs: Resource[]): Resource[] {
  return rs.filter((r) => h.discoverable === undefined || h.discoverable.includes(r.kind));
}

/** Structural equality of plain data (plans are JSON-shaped). */
function sameData(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export const RECOVERY_CASES: readonly ContractCase[] = [
  {
    id: 'resources',
    feature: 'start and stop; every host object recorded before it is created',
    title: 'resources() runs nothing and lists, before start, every resource start() creates',
    async run(h, cfg) {
      const { result: planned, count } = countHostCommands(() => h.driver.resources(cfg));
      check(count === 0, `resources() ran ${count} host commands`);
      check(planned.length > 0, 'resources() listed nothing');
      const started = await h.driver.start(cfg);
      try {
        await h.afterStart?.(cfg);
        const created = new Set(started.resources.map(key));
        for (const r of planned) check(created.has(key(r)), `${key(r)} listed by resources() but not by start()`);
      } finally {
        await h.driver.stop({ name: cfg.name, pid: started.pid, resources: started.resources }, h.stopSignal ?? 'SIGTERM', 5);
        await started.exited;
        await h.driver.cleanup(started.resources);
      }
    },
  },
  {
    id: 'plan',
    feature: 'vessel plan (dry run)',
    title: 'plan() is pure: the same input gives the same output and runs no host command',
    async run(h, cfg) {
      const a = countHostCommands(() => h.driver.plan(cfg));
      const b = countHostCommands(() => h.driver.plan(structuredClone(cfg)));
      check(a.count + b.count === 0, `plan() ran ${a.count + b.count} host commands`);
      check(sameData(a.result, b.result), 'plan() gave two different answers for the same config');
      check(a.result.commands.length > 0, 'plan() lists no command');
    },
  },
  {
    id: 'cleanup',
    feature: 'cleanup is idempotent',
    title: 'cleanup() of resources that do not exist succeeds, and again',
    async run(h, cfg) {
      const planned = h.driver.resources(cfg);
      await h.driver.cleanup(planned);
      await h.driver.cleanup(planned);
      const left = wanted(h, await h.driver.findLeftovers(cfg.name));
      check(left.length === 0, `findLeftovers() still finds ${left.map(key).join(', ')}`);
    },
  },
  {
    id: 'leftovers',
    feature: 'recovery after a killed supervisor (vessel gc)',
    title: 'findLeftovers() finds what a start left when its supervisor was killed; nothing once cleaned',
    async run(h, cfg) {
      const started = await h.driver.start(cfg);
      await h.afterStart?.(cfg);
      // The supervisor "dies" here: no stop, no cleanup. A new one only knows the name.
      const left = await h.driver.findLeftovers(cfg.name);
      const found = new Set(left.map(key));
      try {
        for (const r of wanted(h, started.resources)) check(found.has(key(r)), `leftover ${key(r)} not found`);
      } finally {
        await h.driver.cleanup([...left, ...started.resources.filter((r) => !found.has(key(r)))]);
        await started.exited;
      }
      const after = wanted(h, await h.driver.findLeftovers(cfg.name));
      check(after.length === 0, `after cleanup findLeftovers() still finds ${after.map(key).join(', ')}`);
    },
  },
];
