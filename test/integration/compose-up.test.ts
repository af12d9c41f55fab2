import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, leftovers, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';
import { freePort, httpGet, netTestsCanRun, removeNetworkLeftovers } from '../helpers/net.js';

/**
 * issue 17: a two-service compose file — web depending on a db-like service with a health check,
 * a named volume, a published port, services finding each other by service name — converted and
 * run by `vessel compose up` under the real uWSGI Emperor; the page answers over HTTP, and
 * `vessel compose down -v` leaves no process, mount, cgroup, interface, nft table, network, volume,
 * container state or converted spec behind — and when a volume is still another container's, it
 * removes all the rest, says so in one line and exits non-zero.
 *
 * The health check is converted ([health]) and db:healthy is in web's spec, but until the
 * health-check runner and the dependency gate are wired into the warm `vessel up` service
 * (issue 14), web is not held back: its command waits for db itself, as compose users' commands
 * often do. What this test asserts holds with and without the gate.
 */
const canRun = netTestsCanRun();

describe.runIf(canRun)('vessel compose up / down', () => {
  let t: TestRoot;
  let app: string;
  let port: number;
  let up: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    t = await rootWithBusybox('compose');
    app = join(t.root, 'shop');
    mkdirSync(app);
    port = freePort();
    writeFileSync(join(app, '.env'), `WEB_PORT=${port}\nGREETING=hello from db\n`);
    writeFileSync(join(app, 'compose.yaml'), [
      'services:',
      '  db:',
      '    image: busybox:latest',
      '    command: ["sh", "-c", "echo \\"$$GREETING\\" > /data/index.html && exec httpd -f -p 5000 -h /data"]',
      '    environment:',
      '      GREETING: ${GREETING:?set it in .env}',
      '    volumes:',
      '      - dbdata:/data',
      '    healthcheck:',
      '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5000/"]',
      '      interval: 1s',
      '      timeout: 2s',
      '      retries: 3',
      '  web:',
      '    image: busybox:latest',
      '    depends_on:',
      '      db:',
      '        condition: service_healthy',
      '    command: sh -c \'mkdir -p /www && until wget -q -O /www/index.html http://db:5000/; do sleep 0.2; done; exec httpd -f -p 80 -h /www\'',
      '    ports:',
      '      - "127.0.0.1:${WEB_PORT}:80"',
      '    restart: on-failure',
      'volumes:',
      '  dbdata:',
      '',
    ].join('\n'));
  });

  afterAll(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGTERM');
      await until(() => up!.exitCode !== null || up!.signalCode !== null, 60_000, 'compose up to exit').catch(() => up!.kill('SIGKILL'));
    }
    if (!t) return;
    await vessel(t, ['gc']);
    const net = await removeNetworkLeftovers(t.root, ['shop_default'], ['shop-db', 'shop-web']);
    const rest = leftovers(t);
    t.dispose();
    expect({ ...net, rest }).toEqual({ interfaces: [], table: false, rest: [] });
  });

  /** `vessel compose up` in the foreground once more (its output in `log`), until the web page answers; returned, and kept in `up` for afterAll to stop. */
  async function upAgain(): Promise<ChildProcess> {
    log = '';
    up = spawn(process.execPath, [BIN, 'compose', 'up', '-f', join(app, 'compose.yaml')], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await until(async () => (await httpGet(`http://127.0.0.1:${port}/`, 1000).catch(() => undefined))?.status === 200, 90_000, `the web service again (log: ${log.slice(-3000)})`);
    return up;
  }

  it('convert writes one spec per service, with the dependency, health check and volume', async () => {
    const out = join(t.root, 'converted');
    const r = await vessel(t, ['compose', 'convert', join(app, 'compose.yaml'), '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['shop-db.ini', 'shop-web.ini']);
    const web = readFileSync(join(out, 'shop-web.ini'), 'utf8');
    expect(web).toContain('depends_on[] = shop-db:healthy\n');
    expect(web).toContain(`publish[] = 127.0.0.1:${port}:80/tcp\n`);
    expect(web).toContain('alias[] = web\n');
    const db = readFileSync(join(out, 'shop-db.ini'), 'utf8');
    expect(db).toContain('volume[] = shop_dbdata:/data:rw\n');
    expect(db).toContain('env[] = GREETING=hello from db\n');
    expect(db).toContain('[health]\ncommand = wget -q -O /dev/null http://127.0.0.1:5000/\ninterval = 1s\ntimeout = 2s\nretries = 3\n');
  });

  it('compose up runs both under the Emperor: the web page answers with what db serves', async () => {
    up = spawn(process.execPath, [BIN, 'compose', 'up', '-f', join(app, 'compose.yaml')], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const page = await until(async () => {
      const res = await httpGet(`http://127.0.0.1:${port}/`, 1000).catch(() => undefined);
      return res?.status === 200 ? res.body : undefined;
    }, 90_000, `the web service on 127.0.0.1:${port} (log: ${log.slice(-3000)})`);
    expect(page).toBe('hello from db\n');
    const ps = JSON.parse((await vessel(t, ['ps', '--json'])).stdout) as { containers: Array<{ name: string; status?: string }> };
    expect(ps.containers.filter((c) => c.status === 'running').map((c) => c.name).sort()).toEqual(['shop-db', 'shop-web']);
    expect(JSON.parse((await vessel(t, ['volume', 'ls', '--json'])).stdout)).toMatchObject([{ name: 'shop_dbdata', usedBy: ['shop-db'] }]);
  });

  it('compose down -v stops everything and leaves nothing', async () => {
    const r = await vessel(t, ['compose', 'down', '-f', join(app, 'compose.yaml'), '-v'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('shop: down\n');
    await until(() => up!.exitCode !== null, 10_000, 'compose up to exit');
    expect(up!.exitCode).toBe(0);
    expect(existsSync(join(t.root, 'compose', 'shop'))).toBe(false);
    expect(readdirSync(join(t.root, 'containers'))).toEqual([]);
    expect(JSON.parse((await vessel(t, ['volume', 'ls', '--json'])).stdout)).toEqual([]);
    expect(JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout)).toEqual([]);
    expect((await vessel(t, ['ps', '-a', '--json'])).stdout).toContain('"containers": []');
    expect(existsSync(join(t.root, 'emperor.d')) ? readdirSync(join(t.root, 'emperor.d')) : []).toEqual([]);
  });

  it('a SIGKILLed compose up: down still leaves nothing', async () => {
    (await upAgain()).kill('SIGKILL');
    await until(() => up!.signalCode !== null, 10_000, 'compose up to die');
    const r = await vessel(t, ['compose', 'down', '-f', join(app, 'compose.yaml'), '--volumes'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await until(async () => leftovers(t).length === 0, 30_000, `no process, mount or cgroup left: ${leftovers(t).join(', ')}`);
    expect(existsSync(join(t.root, 'compose', 'shop'))).toBe(false);
    expect(readdirSync(join(t.root, 'containers'))).toEqual([]);
    expect(JSON.parse((await vessel(t, ['volume', 'ls', '--json'])).stdout)).toEqual([]);
    expect(JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout)).toEqual([]);
  });

  it('down -v while another container still uses a volume: the rest goes, one line says which volume and why, the exit is non-zero; down again finishes once it is free', async () => {
    await upAgain();
    // Not part of the project: a container that mounts its volume (stopped, it still holds it).
    const other = await vessel(t, ['run', '--name', 'shop-other', '--network', 'none', '-v', 'shop_dbdata:/d', 'busybox:latest', 'true']);
    expect(other.stderr).toBe('');
    expect(other.code).toBe(0);
    const r = await vessel(t, ['compose', 'down', '-f', join(app, 'compose.yaml'), '-v'], { timeoutMs: 120_000 });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe([
      'vessel: shop: volume shop_dbdata: volume shop_dbdata is in use by container shop-other',
      'vessel: shop: down removed the rest but not volume shop_dbdata (the reason above)',
      '  hint: vessel compose down -v -p shop again removes what is left once that is fixed',
      '',
    ].join('\n'));
    expect(r.code).toBe(125);
    await until(() => up!.exitCode !== null, 10_000, 'compose up to exit');
    // Everything else is gone: containers, network, the Emperor's copies, the converted specs.
    expect(readdirSync(join(t.root, 'containers'))).toEqual(['shop-other']);
    expect(JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout)).toEqual([]);
    expect(existsSync(join(t.root, 'emperor.d')) ? readdirSync(join(t.root, 'emperor.d')) : []).toEqual([]);
    expect(readdirSync(join(t.root, 'compose', 'shop'))).toEqual(['project.json']);
    expect(JSON.parse(readFileSync(join(t.root, 'compose', 'shop', 'project.json'), 'utf8'))).toMatchObject({ containers: [], networks: [], volumes: ['shop_dbdata'] });
    expect(JSON.parse((await vessel(t, ['volume', 'ls', '--json'])).stdout)).toMatchObject([{ name: 'shop_dbdata', usedBy: ['shop-other'] }]);

    expect((await vessel(t, ['rm', 'shop-other'])).code).toBe(0);
    const again = await vessel(t, ['compose', 'down', '-p', 'shop', '-v'], { timeoutMs: 120_000 });
    expect(again).toMatchObject({ code: 0, stdout: 'shop: down\n', stderr: '' });
    expect(existsSync(join(t.root, 'compose', 'shop'))).toBe(false);
    expect(JSON.parse((await vessel(t, ['volume', 'ls', '--json'])).stdout)).toEqual([]);
    expect(readdirSync(join(t.root, 'containers'))).toEqual([]);
  });
});
