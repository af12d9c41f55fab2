import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpecText } from '../../src/spec/index.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { renderNomadJob } from '../../src/cluster/nomad/index.js';
import { renderSbatchScript } from '../../src/cluster/slurm/index.js';
import type { RenderOptions } from '../../src/cluster/backend.js';
import { instanceName } from '../../src/cluster/backend.js';

/**
 * The Nomad job JSON and the sbatch script for a matrix of specs, against golden files a reviewer
 * can read (test/fixtures/cluster/{nomad,slurm}/). UPDATE_GOLDEN=1 rewrites them.
 */
const FIX = 'test/fixtures/cluster';

function spec(dir: string, file: string): ContainerSpec {
  const path = join(FIX, dir, file);
  // A relative path keeps `source` (and so the rendered text) the same on every machine.
  return parseSpecText(readFileSync(path, 'utf8'), { file: path });
}

function golden(path: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

const base: RenderOptions = { count: 1, vesselBin: 'vessel' };

/** spec file → options per backend (undefined: not rendered for that backend). */
const MATRIX: Record<string, { nomad?: RenderOptions; slurm?: RenderOptions }> = {
  'minimal.ini': { nomad: base, slurm: base },
  'web.ini': { nomad: { ...base, count: 3, datacenters: ['dc1', 'dc2'] } },
  'batch.ini': { nomad: { ...base, mhzPerCore: 2400 }, slurm: { ...base, count: 3, partition: 'batch', timeLimit: '1:00:00' } },
  'jail.ini': { nomad: { ...base, vesselBin: '/usr/local/bin/vessel' }, slurm: { ...base, os: 'freebsd', constraint: 'zfs' } },
  'dns.ini': { nomad: { ...base, os: 'linux' }, slurm: { ...base, vesselBin: '/usr/local/bin/vessel', output: '/var/log/vessel/%x-%j.out' } },
};

describe('cluster render: golden files', () => {
  it('covers every spec of the matrix', () => {
    expect(readdirSync(join(FIX, 'specs')).sort()).toEqual(Object.keys(MATRIX).sort());
  });
  for (const [file, opts] of Object.entries(MATRIX)) {
    const stem = file.replace(/\.ini$/, '');
    if (opts.nomad) {
      it(`nomad: ${file}`, () => {
        const out = renderNomadJob(spec('specs', file), opts.nomad!);
        golden(join(FIX, 'nomad', `${stem}.json`), out);
        // what is POSTed is JSON with the Job wrapper of api/jobs.go JobRegisterRequest
        expect(Object.keys(JSON.parse(out) as object)).toEqual(['Job']);
      });
    }
    if (opts.slurm) {
      it(`slurm: ${file}`, () => {
        golden(join(FIX, 'slurm', `${stem}.sbatch`), renderSbatchScript(spec('specs', file), opts.slurm!));
      });
    }
  }
});

describe('cluster render: what it maps', () => {
  it('nomad: cpu % → MHz, memory → MiB, ports → NOMAD_PORT_<label> on vessel run -p', () => {
    const job = JSON.parse(renderNomadJob(spec('specs', 'web.ini'), base)) as { Job: any };
    const task = job.Job.TaskGroups[0].Tasks[0];
    expect(task.Resources).toEqual({ CPU: 500, MemoryMB: 64 });
    expect(task.Config.args).toEqual(['run', '--foreground', '-p', '${NOMAD_PORT_tcp80}:80/tcp', '-p', '${NOMAD_PORT_tcp443}:443/tcp', '${NOMAD_TASK_DIR}/web.ini']);
    expect(job.Job.TaskGroups[0].Networks[0].DynamicPorts.map((p: { Label: string }) => p.Label)).toEqual(['tcp80', 'tcp443']);
    // the embedded spec has no publish[] (Nomad picks the host ports) and restart = no (Nomad restarts)
    const text: string = task.Templates[0].EmbeddedTmpl;
    expect(text).not.toMatch(/publish/);
    expect(text).toMatch(/^restart = no$/m);
    expect(text).toContain('{{ not a template }}');
    expect(task.Templates[0].DestPath).toBe('local/web.ini');
    expect(job.Job.Type).toBe('service');
    expect(task.Services[0].Checks[0].Type).toBe('script');
  });

  it('nomad: the embedded text parses back to the spec, minus what Nomad owns', () => {
    const s = spec('specs', 'web.ini');
    const job = JSON.parse(renderNomadJob(s, base)) as { Job: any };
    const back = parseSpecText(job.Job.TaskGroups[0].Tasks[0].Templates[0].EmbeddedTmpl, { file: 'web.ini' });
    const { source: _a, ...want } = { ...s, restart: { mode: 'no' as const }, network: { ...s.network, publish: [] } };
    const { source: _b, ...got } = back;
    expect(got).toEqual(want);
  });

  it('nomad: [jail] restricts to FreeBSD nodes, --os wins, otherwise either kernel', () => {
    const c = (f: string, o: RenderOptions) => (JSON.parse(renderNomadJob(spec('specs', f), o)) as { Job: any }).Job.Constraints;
    expect(c('jail.ini', base)).toEqual([{ LTarget: '${attr.kernel.name}', Operand: '=', RTarget: 'freebsd' }]);
    expect(c('minimal.ini', base)).toEqual([{ LTarget: '${attr.kernel.name}', Operand: 'regexp', RTarget: '^(freebsd|linux)$' }]);
    expect(c('minimal.ini', { ...base, os: 'linux' })).toEqual([{ LTarget: '${attr.kernel.name}', Operand: '=', RTarget: 'linux' }]);
  });

  it('slurm: the heredoc holds the spec verbatim and parses back', () => {
    const s = spec('specs', 'minimal.ini');
    const script = renderSbatchScript(s, base);
    const m = /<<'(VESSEL_SPEC\w*)'\n([\s\S]*?)\n\1\n/.exec(script);
    expect(m).not.toBeNull();
    const back = parseSpecText(m![2]! + '\n', { file: 'minimal.ini' });
    expect(back.command).toEqual(s.command);
    expect(script).toMatch(/^restart_mode=no$/m);
  });

  it('instance names follow vessel run --foreground', () => {
    expect(instanceName('nomad', 'web', '8ba85cef-5bb2-4e1a-9c2f-0d7d5e9a1b3c')).toBe('web-8ba85cef5bb2');
    expect(instanceName('slurm', 'web', '1234')).toBe('web-1234');
    expect(instanceName('slurm', 'x'.repeat(64), '1234')).toBe(`${'x'.repeat(58)}-1234`);
  });
});

describe('cluster render: specs an engine cannot express fail before anything is submitted', () => {
  const cases: Array<[string, 'nomad' | 'slurm', RegExp]> = [
    ['vmemory.ini', 'nomad', /\[limits\] vmemory: Nomad has no resource for it/],
    ['openfiles.ini', 'nomad', /\[limits\] openfiles: Nomad has no resource for it/],
    ['maxproc.ini', 'nomad', /\[limits\] maxproc: Nomad has no resource for it/],
    ['vmemory.ini', 'slurm', /\[limits\] vmemory: Slurm has no resource for it/],
    ['hostip.ini', 'slurm', /publish 192\.0\.2\.10:8080:80: the host address is not known before Slurm picks a node/],
    ['hostip.ini', 'nomad', /publish 192\.0\.2\.10:8080:80: the host address is not known before Nomad picks a node/],
    ['tty.ini', 'slurm', /tty\/interactive: Slurm runs jobs without a terminal/],
    ['depends.ini', 'nomad', /\[container\] depends_on db, cache: Nomad places each submitted spec as a job of its own/],
    ['depends.ini', 'slurm', /\[container\] depends_on db, cache: Slurm places each submitted spec as a job of its own/],
  ];
  for (const [file, b, re] of cases) {
    it(`${b}: ${file}`, () => {
      const s = spec('invalid', file);
      const render = b === 'nomad' ? renderNomadJob : renderSbatchScript;
      let err: unknown;
      try { render(s, base); } catch (e) { err = e; }
      expect(err).toMatchObject({ code: 'E_UNSUPPORTED' });
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message.startsWith(join(FIX, 'invalid', file))).toBe(true);
    });
  }
  it('slurm: [health]', () => {
    expect(() => renderSbatchScript(spec('specs', 'web.ini'), base)).toThrow(/web\.ini: \[health\]: Slurm has no health checks/);
  });
  it('slurm: published ports with --count > 1', () => {
    expect(() => renderSbatchScript(spec('specs', 'dns.ini'), { ...base, count: 2 })).toThrow(/Slurm does not allocate ports/);
  });
  it('a count below 1', () => {
    expect(() => renderNomadJob(spec('specs', 'minimal.ini'), { ...base, count: 0 })).toThrow(/--count 0/);
  });
});
