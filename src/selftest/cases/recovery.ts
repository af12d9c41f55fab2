import { besideDir } from '../../util/index.js';
import type { ContainerConfig, Resource, StartedContainer } from '../../runtime/index.js';
import { check, countHostCommands, type ContractCase, type ContractHost } from '../contract.js';

/**
 * The cases about records and recovery: resources listed first, plans pure, cleanup idempotent,
 * leftovers found, and two runs of one container beside each other (a zero-downtime reload).
 */

const key = (r: Resource): string => `${r.kind} ${r.id}`;

function wanted(h: ContractHost, rs: Resource[]): Resource[] {
  return rs.filter((r) => h.discoverable === undefined || h.discoverable.includes(r.kind));
}

/** Structural equality of plain data (plans are JSON-shaped). */
function sameData(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The next run of a zero-downtime reload (supervise/surge.ts): its run id, its own directory. */
function besideRun(cfg: ContainerConfig): ContainerConfig {
  const runId = 'b0e51de0'; // "beside", in the 8 hex digits a run id is
  return { ...cfg, runId, beside: true, root: { ...cfg.root, layerDir: besideDir(cfg.dir, runId) } };
}

async function stopAndClean(h: ContractHost, cfg: ContainerConfig, started: StartedContainer): Promise<void> {
  await h.driver.stop({ name: cfg.name, pid: started.pid, resources: started.resources }, h.stopSignal ?? 'SIGTERM', 5);
  await started.exited;
  await h.driver.cleanup(started.resources);
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
  {
    id: 'beside',
    feature: 'zero-downtime reload: a second run beside the running one',
    title: 'a run beside the running one has host objects of its own: both run, the sweep finds both, removing it leaves the first whole',
    async run(h, cfg) {
      let next = besideRun(cfg);
      const first = await h.driver.start(cfg);
      let second: StartedContainer | undefined;
      // its own lease beside the running one's, without the published ports (they move at the switch)
      const lease = `${cfg.name}@${next.runId}`;
      const attached = cfg.network.mode === 'bridge' && h.network !== undefined ? await h.network.attach(lease, []) : undefined;
      try {
        await h.afterStart?.(cfg);
        if (attached !== undefined) next = { ...next, network: attached.network };
        // recorded before it exists, with the running one's (vessel up records it as the state's next run)
        h.record?.(cfg, [...(attached?.resources ?? []), ...h.driver.resources(next)]);
        second = await h.driver.start(next);
        const found = new Set((await h.driver.findLeftovers(cfg.name)).map(key));
        for (const r of wanted(h, [...first.resources, ...second.resources])) check(found.has(key(r)), `leftover ${key(r)} not found by the container's name`);
        // a reload rolled back: the run beside goes, the running one keeps every object it has (a
        // host-wide one both hold, as FreeBSD's portacl rules, included)
        await stopAndClean(h, next, second);
        const taken = second;
        second = undefined;
        const mine = new Set(first.resources.map(key));
        const after = new Set((await h.driver.findLeftovers(cfg.name)).map(key));
        for (const r of wanted(h, first.resources)) check(after.has(key(r)), `removing the run beside took ${key(r)} of the running one`);
        for (const r of wanted(h, taken.resources)) check(mine.has(key(r)) || !after.has(key(r)), `${key(r)} of the run beside was left`);
      } finally {
        if (second !== undefined) await stopAndClean(h, next, second);
        await stopAndClean(h, cfg, first);
        if (attached !== undefined) await h.network?.release(lease, attached.resources);
      }
      const left = wanted(h, await h.driver.findLeftovers(cfg.name));
      check(left.length === 0, `after both runs findLeftovers() still finds ${left.map(key).join(', ')}`);
    },
  },
];
