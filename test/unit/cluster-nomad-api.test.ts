import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSpecText } from '../../src/spec/index.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { nomadBackend, nomadConfigFromEnv, renderNomadJob, type NomadConfig } from '../../src/cluster/nomad/index.js';
import { NomadClient } from '../../src/cluster/nomad/api.js';
import { watchAllocations } from '../../src/cluster/nomad/status.js';
import { FakeNomad } from '../helpers/nomad-api.js';

/**
 * vessel's Nomad backend against test/helpers/nomad-api.ts, a local HTTP server that answers the
 * endpoints vessel calls with the shapes of hashicorp/nomad's api package: api/jobs.go
 * (Register → POST /v1/jobs, Info, Allocations, Deregister → DELETE /v1/job/:id),
 * api/evaluations.go (Info → GET /v1/evaluation/:id, FailedTGAllocs, BlockedEval),
 * api/allocations.go (AllocationListStub, AllocationMetric, client statuses incl. "lost"),
 * api/tasks.go (TaskState, TaskEvent "Terminated" with Details.exit_code) and api/api.go
 * (X-Nomad-Token, ?namespace=, blocking queries ?index=&wait= with X-Nomad-Index).
 * No Nomad binary can be installed on these machines; the live test is cluster-nomad-live.
 */

function spec(name: string, text: string): ContainerSpec {
  return parseSpecText(text, { file: `${name}.ini` });
}

const WEB = spec('web', '[container]\nimage = busybox\ncommand = httpd -f -p 80\nrestart = always\n[network]\nname = front\npublish[] = 8080:80\n[limits]\nmemory = 64M\ncpu = 25%\n');
const JOB = spec('job', '[container]\nimage = busybox\ncommand = sh -c "exit 3"\nrestart = no\n');
const JAIL = spec('jail', '[container]\nimage = freebsd-base\nrestart = no\n[jail]\nsecurelevel = 3\n');
const HUGE = spec('huge', '[container]\nimage = busybox\nrestart = no\n[limits]\nmemory = 8G\n');
const OPTS = { count: 2, vesselBin: 'vessel', waitMs: 10_000 };

let fake: FakeNomad;
let cfg: NomadConfig;

async function startFake(opts: ConstructorParameters<typeof FakeNomad>[0] = {}): Promise<void> {
  fake = new FakeNomad(opts);
  cfg = nomadConfigFromEnv({ NOMAD_ADDR: await fake.start() });
}

afterEach(async () => {
  await fake?.stop();
});

describe('nomad backend against the API-shaped server', () => {
  it('submits with POST /v1/jobs, checks the evaluation and watches allocations until they run', async () => {
    await startFake();
    const b = nomadBackend(cfg);
    const sub = await b.submit(WEB, OPTS);
    expect(sub.jobId).toBe('web');
    expect(sub.instances.map((i) => i.state)).toEqual(['running', 'running']);
    expect(new Set(sub.instances.map((i) => i.node))).toEqual(new Set(['linux-1', 'linux-2']));
    for (const i of sub.instances) expect(i.instance).toBe(`web-${i.id.replace(/-/g, '').slice(0, 12)}`);

    const reqs = fake.requests;
    expect(reqs[0]).toMatchObject({ method: 'POST', path: '/v1/jobs' });
    // the body is exactly what --dry-run prints
    expect(reqs[0]!.body).toEqual(JSON.parse(renderNomadJob(WEB, OPTS)));
    expect(reqs[1]).toMatchObject({ method: 'GET', path: `/v1/evaluation/${sub.evalId}` });
    const evalPolls = reqs.filter((r) => r.path.startsWith('/v1/evaluation/'));
    expect(evalPolls.slice(1).every((r) => r.query.index !== undefined && /^\d+ms$/.test(r.query.wait ?? ''))).toBe(true);
    const allocReqs = reqs.filter((r) => r.path === '/v1/job/web/allocations');
    expect(allocReqs.length).toBeGreaterThan(1);
    expect(allocReqs[0]!.query).toEqual({ all: 'true' });
    // after the first list, every call is a blocking query on the last X-Nomad-Index
    for (const r of allocReqs.slice(1)) {
      expect(Number(r.query.index)).toBeGreaterThan(0);
      expect(r.query.wait).toMatch(/^\d+ms$/);
    }
    // vessel calls nothing else
    expect(new Set(reqs.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, ':id')}`))).toEqual(
      new Set(['POST /v1/jobs', 'GET /v1/evaluation/:id', 'GET /v1/job/web/allocations']),
    );
  });

  it('an evaluation that cannot be placed (constraint) → a clear error naming the constraint', async () => {
    await startFake();
    const err = await nomadBackend(cfg).submit(JAIL, { ...OPTS, count: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CLUSTER' });
    expect((err as Error).message).toBe('nomad job jail: task group jail cannot be placed: 2 nodes filtered by constraint ${attr.kernel.name} = freebsd');
    expect((err as { hint: string }).hint).toMatch(/stays registered and blocked \(evaluation [0-9a-f-]{36}\)/);
  });

  it('an evaluation that cannot be placed (resources) → memory exhausted', async () => {
    await startFake();
    const err = await nomadBackend(cfg).submit(HUGE, OPTS).catch((e: unknown) => e);
    expect((err as Error).message).toBe('nomad job huge: task group huge cannot be placed (2 allocations): memory exhausted on 2 nodes');
  });

  it('a lost allocation is replaced; status shows both, the replacement running', async () => {
    await startFake();
    const b = nomadBackend(cfg);
    await b.submit(WEB, OPTS);
    const client = new NomadClient(cfg);
    try {
      const lostSeen: string[] = [];
      const watched = watchAllocations(client, 'web', (list) => list.some((a) => a.ClientStatus === 'lost') && list.filter((a) => a.ClientStatus === 'running').length === 2, 10_000,
        (list) => { for (const a of list) if (a.ClientStatus === 'lost') lostSeen.push(a.ID); });
      setTimeout(() => fake.loseNode('linux-1'), 50);
      const { done } = await watched;
      expect(done).toBe(true);
      expect(lostSeen.length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    const st = await b.status('web');
    const lost = st.instances.filter((i) => i.state === 'lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ node: 'linux-1', detail: 'alloc is lost since its node is down' });
    const running = st.instances.filter((i) => i.state === 'running');
    expect(running.map((i) => i.node)).toEqual(['linux-2', 'linux-2']);
  });

  it('the exit code comes back from the Terminated task event', async () => {
    await startFake();
    const b = nomadBackend(cfg);
    const sub = await b.submit(JOB, { ...OPTS, count: 1 });
    fake.finishAlloc(sub.instances[0]!.id, 3);
    const st = await b.status('job');
    expect(st.instances[0]).toMatchObject({ state: 'failed', exitCode: 3 });
  });

  it('stop: DELETE /v1/job/:id, then waits until every allocation is terminal', async () => {
    await startFake();
    const b = nomadBackend(cfg);
    await b.submit(WEB, OPTS);
    const r = await b.stop('web', { waitMs: 10_000 });
    expect(r.stopped).toHaveLength(2);
    expect(fake.requests.some((q) => q.method === 'DELETE' && q.path === '/v1/job/web')).toBe(true);
    expect(fake.allocations('web').every((a) => a.ClientStatus === 'complete' && a.DesiredStatus === 'stop')).toBe(true);
    const st = await b.status('web');
    expect(st.state).toBe('dead (stopped)');
    await expect(b.stop('nothing')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('a spec Nomad cannot express is refused before any request', async () => {
    await startFake();
    const bad = spec('bad', '[container]\nimage = busybox\n[limits]\nvmemory = 1G\n');
    await expect(nomadBackend(cfg).submit(bad, OPTS)).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    expect(fake.requests).toHaveLength(0);
  });

  it('NOMAD_TOKEN, NOMAD_NAMESPACE and NOMAD_REGION travel on every request', async () => {
    await startFake({ token: 's3cret' });
    const noToken = await nomadBackend(cfg).status('web').catch((e: unknown) => e);
    expect(noToken).toMatchObject({ code: 'E_CLUSTER', message: expect.stringMatching(/403 Permission denied/) });
    expect((noToken as { hint: string }).hint).toMatch(/NOMAD_TOKEN/);
    const c = nomadConfigFromEnv({ NOMAD_ADDR: fake.address, NOMAD_TOKEN: 's3cret', NOMAD_NAMESPACE: 'batch', NOMAD_REGION: 'eu' });
    await nomadBackend(c).submit(JOB, { ...OPTS, count: 1 });
    const after = fake.requests.slice(1);
    expect(after.length).toBeGreaterThan(2);
    for (const r of after) {
      expect(r.token).toBe('s3cret');
      expect(r.query).toMatchObject({ namespace: 'batch', region: 'eu' });
    }
    // the job lives in that namespace only
    await expect(nomadBackend({ ...c, namespace: 'default' }).status('job')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });
});

describe('nomad backend over TLS with a client certificate (NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vessel-nomad-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=vessel test CA');
    for (const who of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}.global.nomad`);
      writeFileSync(join(dir, `${who}.ext`), who === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:server.global.nomad\n' : 'extendedKeyUsage=clientAuth\n');
      ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '1', '-extfile', `${who}.ext`);
    }
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the agent against the CA and presents the client certificate', async () => {
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    await startFake({ tls: { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem') } });
    const env = { NOMAD_ADDR: fake.address, NOMAD_CACERT: join(dir, 'ca.pem'), NOMAD_CLIENT_CERT: join(dir, 'client.pem'), NOMAD_CLIENT_KEY: join(dir, 'client.key') };
    const sub = await nomadBackend(nomadConfigFromEnv(env)).submit(JOB, { ...OPTS, count: 1 });
    expect(sub.instances).toHaveLength(1);
    // without the client certificate the agent refuses the handshake
    const { NOMAD_CLIENT_CERT: _c, NOMAD_CLIENT_KEY: _k, ...noClient } = env;
    await expect(nomadBackend(nomadConfigFromEnv(noClient)).status('job')).rejects.toMatchObject({ code: 'E_CLUSTER' });
    // without the CA the agent's certificate is not trusted
    await expect(nomadBackend(nomadConfigFromEnv({ ...env, NOMAD_CACERT: '' })).status('job')).rejects.toMatchObject({ code: 'E_CLUSTER' });
  });
});
