import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderRcScript } from '../../src/emperor/index.js';
import { pfConfLines } from '../../src/runtime/freebsd/index.js';
import { parseSpecFile } from '../../src/spec/index.js';
import { expectGolden } from '../helpers/freebsd.js';
import { REPO } from '../helpers/vessel.js';

/**
 * FreeBSD set-up without a FreeBSD: scripts/setup.sh run with uname, id, pkg, npm and node
 * replaced by recorders on PATH (its transcript is test/fixtures/freebsd/setup/commands.txt), the
 * rc.d script rendered (golden, and parsed by a real sh -n), the host lines set-up prints, and the
 * FreeBSD examples (vassals/freebsd/) against what /rescue has.
 */
const tmp = mkdtempSync(join(tmpdir(), 'vessel-freebsd-setup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the rc.d script', () => {
  const template = readFileSync(join(REPO, 'templates', 'rc.d', 'vessel'), 'utf8');

  it('is rendered with this installation\'s node and vessel.js (golden), and is valid sh', () => {
    const text = renderRcScript(template, { node: '/usr/local/bin/node', cli: '/usr/local/lib/vessel/bin/vessel.js' });
    expectGolden('setup', 'rc.d-vessel', text);
    const file = join(tmp, 'vessel.rc');
    writeFileSync(file, text);
    expect(spawnSync('sh', ['-n', file]).status).toBe(0);
    expect(text).toContain(': ${vessel_node:="/usr/local/bin/node"}');
    expect(text).not.toContain('{{');
  });

  it('refuses a path the shell would expand inside the quoted default', () => {
    expect(() => renderRcScript(template, { node: '/usr/local/bin/node', cli: '/opt/$(id)/vessel.js' })).toThrow(/cli path "\/opt\/\$\(id\)\/vessel.js" must be absolute/);
    expect(() => renderRcScript(template, { node: 'node', cli: '/x/vessel.js' })).toThrow(/node path "node" must be absolute/);
  });
});

describe('the host lines set-up cannot do', () => {
  const text = readFileSync(join(REPO, 'templates', 'freebsd', 'host-setup.txt'), 'utf8');
  const commands = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

  it('carry exactly the pf.conf anchor lines vessel loads rules into', () => {
    expect(commands.filter((l) => /^(nat|rdr)-anchor /.test(l))).toEqual(pfConfLines());
  });

  it('name every sysrc, loader.conf, kldload and sysctl step', () => {
    expect(commands.filter((l) => !/^(nat|rdr)-anchor /.test(l))).toEqual([
      'sysrc -f /boot/loader.conf kern.racct.enable=1',
      'sysrc pf_enable=YES',
      'service pf start',
      'sysrc gateway_enable=YES',
      'sysctl net.inet.ip.forwarding=1',
      'sysctl net.pf.filter_local=1',
      'kldload mac_portacl',
      'sysrc -f /boot/loader.conf mac_portacl_load=YES',
    ]);
  });
});

describe('scripts/setup.sh on FreeBSD (recorded)', () => {
  function shims(doctorExit: number): { bin: string; log: string } {
    const bin = mkdtempSync(join(tmp, 'bin-'));
    const log = join(bin, 'calls.log');
    const shim = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    shim('uname', 'echo FreeBSD');
    shim('id', 'echo 0');
    shim('pkg', 'exit 0');
    shim('npm', 'exit 0');
    // node: the image is not there yet, doctor finds something missing (exit 1) or not (0)
    shim('node', `case "$*" in *"image inspect"*) exit 1 ;; *doctor*) exit ${doctorExit} ;; esac; exit 0`);
    return { bin, log };
  }

  for (const [name, doctorExit] of [['fresh', 1], ['ready', 0]] as const) {
    it(`${name} host: pkg by origin, build, the example image from /rescue${doctorExit ? ', doctor, then the host lines' : ', doctor'}`, () => {
      const { bin, log } = shims(doctorExit);
      const r = spawnSync('sh', [join(REPO, 'scripts', 'setup.sh'), 'start'], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectGolden('setup', `commands-${name}.txt`, readFileSync(log, 'utf8'));
    });
  }

  it('pkg installs the origins of scripts/packages-freebsd.txt, whose ports exist', () => {
    const { bin, log } = shims(0);
    spawnSync('sh', [join(REPO, 'scripts', 'setup.sh'), 'test'], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    const pkg = readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('pkg '));
    // www/node20 (Node 20), www/npm-node20 (npm built for it), www/uwsgi: freebsd-ports origins
    expect(pkg).toBe('pkg install -y www/node20 www/npm-node20 www/uwsgi');
  });
});

describe('the FreeBSD examples (vassals/freebsd)', () => {
  // rescue/rescue/Makefile (freebsd-src): programs crunched into /rescue, as far as the examples use them.
  const RESCUE = new Set(['sh', 'cat', 'date', 'echo', 'hostname', 'mkdir', 'nc', 'sleep', 'ps', 'kill', 'ls']);
  const SH_BUILTINS = new Set(['printf', 'echo', 'while', 'do', 'done', 'exec', 'true', ':']);
  const dir = join(REPO, 'vassals', 'freebsd');

  it('parse, run freebsd:latest, and call only /rescue programs and sh builtins', async () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ini')).sort();
    expect(files).toEqual(['ticker.ini', 'web.ini']);
    for (const f of files) {
      const spec = await parseSpecFile(join(dir, f));
      expect(spec.image).toBe('freebsd:latest');
      const script = (spec.command?.[2] ?? '').replace(/\$\(\([^)]*\)\)/g, '0'); // arithmetic is not a command
      expect(spec.command?.slice(0, 2)).toEqual(['sh', '-c']);
      // first word of each simple command (after ; && | { ( do $( and leading assignments)
      const words = [...script.matchAll(/(?:^|[;&|{(]|\bdo\b|\$\()\s*(?:\w+=\S*\s+)*([a-z][\w-]*)(?![\w=-])/g)].map((m) => m[1]!);
      expect(words).toContain(f === 'web.ini' ? 'nc' : 'sleep');
      for (const w of words) expect(RESCUE.has(w) || SH_BUILTINS.has(w), `${f}: ${w} is neither in /rescue nor an sh builtin`).toBe(true);
    }
  });

  it('the web page: nc -N -l per connection, published on every address (pf rdr does not see 127.0.0.1)', async () => {
    const spec = await parseSpecFile(join(dir, 'web.ini'));
    expect(spec.command?.[2]).toContain('nc -N -l 80');
    expect(spec.network.publish).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  });
});

it('the Linux examples are unchanged: vassals/*.ini still run busybox:latest', async () => {
  for (const f of ['echo.ini', 'ticker.ini', 'web.ini']) expect((await parseSpecFile(join(REPO, 'vassals', f))).image).toBe('busybox:latest');
  expect(execFileSync('sh', ['-c', `ls ${join(REPO, 'vassals')}`], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual(['echo.ini', 'freebsd', 'ticker.ini', 'web.ini']);
});
