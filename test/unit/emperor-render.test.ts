import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TUNING, emperorPaths, heartbeatInterval, renderEmperorIni, vassalEnv } from '../../src/emperor/render.js';
import { emperorArgv, uwsgiLineLevel } from '../../src/emperor/up.js';
import { loadConfig } from '../../src/util/config.js';

const repo = join(__dirname, '..', '..');
const template = readFileSync(join(repo, 'emperor', 'emperor.ini'), 'utf8');
const golden = join(repo, 'test', 'fixtures', 'emperor', 'emperor.ini');

// A FreeBSD-like install, independent of where this checkout lives.
const cfg = {
  ...loadConfig({
    VESSEL_ROOT: '/var/db/vessel',
    VESSEL_RUN_DIR: '/var/run/vessel',
    VESSEL_VASSALS: '/usr/local/etc/vessel/vassals',
    VESSEL_LIBEXEC: '/usr/local/libexec/vessel',
    VESSEL_CONFIG: '/dev/null',
    VESSEL_CGROUP_PARENT: 'vessel',
  }),
  packageDir: '/usr/local/lib/node_modules/vessel',
};

function render(overrides: Partial<typeof DEFAULT_TUNING> = {}): string {
  const tuning = { ...DEFAULT_TUNING, ...overrides };
  const env = vassalEnv(cfg, tuning, { service: '/var/run/vessel/vessel.sock' });
  return renderEmperorIni(template, { ...emperorPaths(cfg), ...tuning, env });
}

describe('emperor.ini rendering', () => {
  it('matches the golden file', () => {
    const text = render();
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });

  it('never uses vassals-stop-hook (uWSGI bug 2) and has no inline comments', () => {
    const options = render().split('\n').filter((l) => !/^[;#[]/.test(l) && l !== '');
    expect(options.length).toBeGreaterThan(10);
    for (const line of options) expect(line).toMatch(/^[a-z-]+ = [^;#]*$/);
    expect(options.some((l) => l.startsWith('vassals-stop-hook'))).toBe(false);
  });

  it('heartbeats a third of the required interval, at most 10 s', () => {
    expect(heartbeatInterval(30)).toBe(10);
    expect(heartbeatInterval(3)).toBe(1);
    expect(heartbeatInterval(1)).toBe(1);
    expect(heartbeatInterval(120)).toBe(10);
    expect(render({ requiredHeartbeatSec: 6 })).toMatch(/^env = VESSEL_HEARTBEAT=2$/m);
  });

  it('refuses values uWSGI would reinterpret', () => {
    const bad = { ...cfg, root: '/srv/100%/vessel' };
    const env = vassalEnv(bad, DEFAULT_TUNING, { service: '/run/x.sock' });
    expect(() => renderEmperorIni(template, { ...emperorPaths(cfg), ...DEFAULT_TUNING, env })).toThrow(/emperor.ini VESSEL_ROOT: .*"%"/);
    expect(() => renderEmperorIni(template, { ...emperorPaths({ ...cfg, emperorDir: '/a\nemperor-wrapper = /tmp/evil' }), ...DEFAULT_TUNING, env: [] })).toThrow(/line break/);
    expect(() => renderEmperorIni(template, { ...emperorPaths({ ...cfg, run: '/' + 'x'.repeat(100) }), ...DEFAULT_TUNING, env: [] })).toThrow(/longer than 103 bytes/);
    expect(() => renderEmperorIni(template, { ...emperorPaths(cfg), ...DEFAULT_TUNING, throttleMs: 0, env: [] })).toThrow(/emperor-throttle: expected a positive integer/);
    expect(() => renderEmperorIni('{{nope}}', { ...emperorPaths(cfg), ...DEFAULT_TUNING, env: [] })).toThrow(/unknown placeholder \{\{nope\}\}/);
  });

  it('ties the Emperor to `vessel up` with setpriv on Linux only', () => {
    expect(emperorArgv('uwsgi', '/r/emperor.ini', { platform: 'linux', hasSetpriv: true })).toEqual(['/usr/bin/setpriv', '--pdeathsig', 'SIGTERM', '--', 'uwsgi', '--ini', '/r/emperor.ini']);
    expect(emperorArgv('uwsgi', '/r/emperor.ini', { platform: 'freebsd', hasSetpriv: false })).toEqual(['uwsgi', '--ini', '/r/emperor.ini']);
  });

  it('relays uWSGI lines at a level that fits them', () => {
    expect(uwsgiLineLevel('Sat Nov 28 15:35:19 2026 - [emperor] vassal web.vessel has been spawned')).toBe('info');
    expect(uwsgiLineLevel('*** starting uWSGI Emperor ***')).toBe('info');
    expect(uwsgiLineLevel('detected number of CPU cores: 2')).toBe('debug');
    expect(uwsgiLineLevel('[emperor] vassal web.vessel sent no heartbeat in last 3 seconds, brutally respawning it...')).toBe('warn');
    expect(uwsgiLineLevel('setpriv: failed to execute /x/uwsgi: No such file or directory')).toBe('warn');
  });

  it('runs the Emperor with a soft open-files limit of 4096 when the host\'s is higher', () => {
    expect(emperorArgv('uwsgi', '/r/e.ini', { platform: 'freebsd', hasSetpriv: false, nofile: 20000 })).toEqual(['/bin/sh', '-c', 'ulimit -S -n 4096 && exec "$@"', 'sh', 'uwsgi', '--ini', '/r/e.ini']);
    expect(emperorArgv('uwsgi', '/r/e.ini', { platform: 'freebsd', hasSetpriv: false, nofile: 1024 })).toEqual(['uwsgi', '--ini', '/r/e.ini']);
    const env = vassalEnv(cfg, DEFAULT_TUNING, { service: '/run/x.sock', nofile: 20000 });
    expect(env).toContainEqual(['VESSEL_NOFILE', '20000']);
  });
});
