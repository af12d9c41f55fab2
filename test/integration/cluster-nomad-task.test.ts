import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSpecText } from '../../src/spec/index.js';
import { nomadJob } from '../../src/cluster/nomad/index.js';
import type { NomadTask } from '../../src/cluster/nomad/types.js';
import { BIN, leftovers, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';

/**
 * What a Nomad client does with vessel's job, done by hand on this Linux host (no Nomad binary can
 * be installed): render the template into the task's local/ directory, interpolate ${NOMAD_…} in
 * the raw_exec command line, run it with the task environment — so the job's command, spec text
 * and instance naming are checked against the real `vessel run --foreground` and `vessel exec`.
 */
const isRoot = process.getuid?.() === 0;
let t: TestRoot;

beforeAll(async () => {
  if (isRoot) t = await rootWithBusybox('cluster-nomad-task');
});
afterAll(async () => {
  if (!t) return;
  // the named network the port test used goes away with its last member
  const ls = await vessel(t, ['network', 'ls']);
  expect(ls.stdout).not.toMatch(/nomadtask/);
  expect(leftovers(t)).toEqual([]);
  t.dispose();
});

function interpolate(s: string, env: Record<string, string>): string {
  return s.replace(/\$\{(NOMAD_\w+)\}/g, (m, k: string) => env[k] ?? m);
}

function runTask(task: NomadTask, allocId: string): { env: Record<string, string>; child: ReturnType<typeof spawn>; output: () => string } {
  const taskDir = join(t.root, 'alloc', allocId, task.Name);
  const local = join(taskDir, 'local');
  mkdirSync(local, { recursive: true });
  for (const tpl of task.Templates) writeFileSync(join(taskDir, tpl.DestPath), tpl.EmbeddedTmpl, { mode: Number.parseInt(tpl.Perms, 8) });
  const env: Record<string, string> = { ...(t.env as Record<string, string>), NOMAD_ALLOC_ID: allocId, NOMAD_TASK_DIR: local, NOMAD_TASK_NAME: task.Name };
  const argv = task.Config.args.map((a) => interpolate(a, env));
  const cmd = task.Config.command === 'vessel' ? process.execPath : task.Config.command;
  const child = spawn(cmd, task.Config.command === 'vessel' ? [BIN, ...argv] : argv, { cwd: taskDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { env, child, output: () => out };
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

// In CI (root) this must run: a non-root CI is a failure, never a silent skip.
if (!isRoot && process.env.CI === 'true') throw new Error('the Nomad task test needs root (it runs containers)');

describe.runIf(isRoot)('the raw_exec task of vessel\'s Nomad job, run as a Nomad client would', () => {
  it('runs the embedded spec; the task exits with the application\'s code', async () => {
    const spec = parseSpecText('[container]\nimage = busybox\ncommand = sh -c \'echo "hello from $(hostname)"; exit 5\'\nrestart = no\n', { file: 'hello.ini' });
    const task = nomadJob(spec, { count: 1, vesselBin: 'vessel' }).TaskGroups[0]!.Tasks[0]!;
    const { child, output } = runTask(task, randomUUID());
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(output()).toContain('hello from');
    expect(code).toBe(5);
  }, 60_000);

  it('the health check runs its command in this allocation\'s container; SIGTERM (kill_signal) stops it', async () => {
    const spec = parseSpecText('[container]\nimage = busybox\ncommand = sh -c \'touch /tmp/ready; exec sleep 600\'\nrestart = always\n[health]\ncommand = test -f /tmp/ready\ninterval = 5\n', { file: 'svc.ini' });
    const task = nomadJob(spec, { count: 1, vesselBin: BIN }).TaskGroups[0]!.Tasks[0]!;
    task.Config.command = 'vessel';
    const allocId = randomUUID();
    const { child, env, output } = runTask(task, allocId);
    const check = task.Services![0]!.Checks[0]!;
    const runCheck = () => new Promise<number | null>((res) => {
      const c = spawn(check.Command, check.Args.map((a) => interpolate(a, env)), { env, stdio: 'ignore' });
      c.on('exit', (code) => res(code));
    });
    await until(async () => (await runCheck()) === 0, 30_000, `the health check to pass\n${output()}`);
    // and it does check: the same check with a file that is not there fails
    check.Args = [...check.Args.slice(0, -1), '/tmp/not-there'];
    expect(await runCheck()).not.toBe(0);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(code).not.toBeNull();
    expect(leftovers(t, `svc-${allocId.replace(/-/g, '').slice(0, 12)}`)).toEqual([]);
  }, 90_000);

  it('a published port reaches the container through NOMAD_PORT_<label>', async () => {
    const spec = parseSpecText('[container]\nimage = busybox\ncommand = sh -c \'echo nomad-port-ok > /www/index.html; exec httpd -f -p 80 -h /www\'\nrestart = always\n[network]\nname = nomadtask\npublish[] = 8080:80\n', { file: 'web.ini' });
    const task = nomadJob(spec, { count: 1, vesselBin: 'vessel' }).TaskGroups[0]!.Tasks[0]!;
    const port = await freePort();
    const allocId = randomUUID();
    // the Nomad client puts the dynamic port it picked into the task's environment
    const withPort = { ...task, Config: { ...task.Config, args: task.Config.args.map((a) => a.replace('${NOMAD_PORT_tcp80}', String(port))) } };
    const { child, output } = runTask(withPort, allocId);
    try {
      const body = await until(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
        return r && r.ok ? r.text() : undefined;
      }, 30_000, `httpd on the dynamic port\n${output()}`);
      expect(body.trim()).toBe('nomad-port-ok');
    } finally {
      child.kill('SIGTERM');
      await new Promise((res) => child.on('exit', res));
    }
    expect(leftovers(t, `web-${allocId.replace(/-/g, '').slice(0, 12)}`)).toEqual([]);
  }, 90_000);
});
