import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { FakeNomad } from '../helpers/nomad-api.js';

/**
 * `vessel cluster` (the CLI, as a user runs it) against the Nomad API-shaped server of
 * test/helpers/nomad-api.ts (endpoints and shapes of hashicorp/nomad api/jobs.go,
 * api/evaluations.go, api/allocations.go, api/tasks.go), reached through NOMAD_ADDR/NOMAD_TOKEN.
 */
let t: TestRoot;
let fake: FakeNomad;
let env: NodeJS.ProcessEnv;

function spec(name: string, text: string): string {
  const f = join(t.root, `${name}.ini`);
  writeFileSync(f, text);
  return f;
}

beforeAll(async () => {
  t = makeRoot('cluster-nomad');
  fake = new FakeNomad({ token: 'vessel-test-token' });
  env = { NOMAD_ADDR: await fake.start(), NOMAD_TOKEN: 'vessel-test-token' };
});

afterAll(async () => {
  await fake.stop();
  t.dispose();
});

describe('vessel cluster --backend nomad', () => {
  const web = () => spec('web', '[container]\nimage = busybox\ncommand = httpd -f -p 80\n[network]\nname = front\npublish[] = 8080:80\n[limits]\nmemory = 32M\ncpu = 10%\n');

  it('--dry-run prints the job and contacts nothing', async () => {
    const r = await vessel(t, ['cluster', 'submit', web(), '--backend', 'nomad', '--dry-run', '--count', '2'], { env });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { Job: { ID: string; TaskGroups: Array<{ Count: number }> } };
    expect(body.Job.ID).toBe('web');
    expect(body.Job.TaskGroups[0]!.Count).toBe(2);
    expect(fake.requests).toHaveLength(0);
  });

  it('submit, status (no --backend needed afterwards), stop', async () => {
    const sub = await vessel(t, ['cluster', 'submit', web(), '--backend', 'nomad', '--count', '2', '--wait', '20'], { env });
    expect(sub.stderr).toBe('');
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^web: submitted to nomad as job web \(evaluation [0-9a-f-]{36}\)\n/);
    expect(sub.stdout.match(/ running /g)).toHaveLength(2);

    const st = await vessel(t, ['cluster', 'status', 'web', '--json'], { env });
    expect(st.code).toBe(0);
    const s = JSON.parse(st.stdout) as { backend: string; state: string; instances: Array<{ state: string; node: string }> };
    expect(s.backend).toBe('nomad');
    expect(s.instances.map((i) => i.state)).toEqual(['running', 'running']);

    const text = await vessel(t, ['cluster', 'status', 'web'], { env });
    expect(text.stdout.split('\n')[0]).toBe('web: nomad job running');
    expect(text.stdout).toMatch(/^INSTANCE\s+ID\s+NODE\s+STATE\s+EXIT\s+RESTARTS\s+DETAIL$/m);

    const stop = await vessel(t, ['cluster', 'stop', 'web'], { env });
    expect(stop.stdout).toBe('web: stopped 2 instances (nomad)\n');
    expect(fake.allocations('web').every((a) => a.ClientStatus === 'complete')).toBe(true);
  });

  it('an unplaceable job: exit 125 and the scheduler\'s reason', async () => {
    const f = spec('bsd', '[container]\nimage = freebsd-base\nrestart = no\n[jail]\nsecurelevel = 3\n');
    const r = await vessel(t, ['cluster', 'submit', f, '--backend', 'nomad'], { env });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^vessel: nomad job bsd: task group bsd cannot be placed: 2 nodes filtered by constraint \$\{attr\.kernel\.name\} = freebsd\n  hint: the job stays registered and blocked/);
  });

  it('a spec Nomad cannot express: exit 125 before any request', async () => {
    const before = fake.requests.length;
    const f = spec('nofiles', '[container]\nimage = busybox\n[limits]\nopenfiles = 64\n');
    const r = await vessel(t, ['cluster', 'submit', f, '--backend', 'nomad'], { env });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/nofiles\.ini: \[limits\] openfiles: Nomad has no resource for it/);
    expect(fake.requests.length).toBe(before);
  });

  it('a wrong token: the agent\'s 403 and a hint', async () => {
    const r = await vessel(t, ['cluster', 'status', 'web'], { env: { ...env, NOMAD_TOKEN: 'wrong' } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/nomad GET \/v1\/job\/web: 403 Permission denied\n  hint: set NOMAD_TOKEN/);
  });

  it('status of a name never submitted from here needs --backend', async () => {
    const r = await vessel(t, ['cluster', 'status', 'other'], { env });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/other was not submitted from this host\n  hint: name the engine with --backend/);
    const r2 = await vessel(t, ['cluster', 'status', 'other', '--backend', 'nomad'], { env });
    expect(r2.stderr).toMatch(/nomad job other: no such job/);
  });
});
