import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';

// issue 6: `vessel run IMAGE` uses the image's cmd, workdir, env and exposed ports (-P publishes them).
let t: TestRoot;

beforeAll(async () => {
  t = await rootWithBusybox('puball');
  const ctx = join(t.root, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'index.html'), 'exposed and published\n');
  writeFileSync(join(ctx, 'Vesselfile'), 'FROM busybox:latest\nCOPY index.html /srv/index.html\nWORKDIR /srv\nENV WHO=image\nEXPOSE 80/tcp\nCMD ["httpd", "-f", "-p", "80", "-h", "/srv"]\n');
  const b = await vessel(t, ['build', '-t', 'web:exposed', ctx], { timeoutMs: 120_000 });
  if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
});

afterAll(async () => {
  await vessel(t, ['rm', '-f', 'pub']);
  expect(leftovers(t)).toEqual([]);
  t.dispose();
});

describe('vessel run -P', () => {
  it('publishes the image\'s exposed port on a free host port and runs its CMD', async () => {
    const r = await vessel(t, ['run', '-d', '--name', 'pub', '-P', 'web:exposed']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The spec asks for 80/tcp on a free host port; the lease holds the one chosen at start.
    const [st] = JSON.parse((await vessel(t, ['inspect', 'pub'])).stdout) as Array<{
      spec: { network: { publish: Array<{ hostPort: number; containerPort: number; protocol: string }> } };
      ports: { publish: Array<{ hostPort: number; containerPort: number; protocol: string }> };
    }>;
    expect(st!.spec.network.publish).toEqual([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    const pub = st!.ports.publish;
    expect(pub).toHaveLength(1);
    expect(pub[0]!.containerPort).toBe(80);
    expect(pub[0]!.hostPort).toBeGreaterThan(0);
    expect((await vessel(t, ['port', 'pub', '80'])).stdout).toContain(`80/tcp -> 0.0.0.0:${pub[0]!.hostPort}\n`);
    const body = await until(async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${pub[0]!.hostPort}/index.html`);
        return res.status === 200 ? await res.text() : undefined;
      } catch {
        return undefined;
      }
    }, 20_000, 'HTTP 200 on the published port');
    expect(body).toBe('exposed and published\n');
    const env = await vessel(t, ['exec', 'pub', 'sh', '-c', 'echo $WHO $(pwd)']);
    expect(env.stdout.trim()).toBe('image /srv');
  });
});
