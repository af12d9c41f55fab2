import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRoot, REPO, vessel, type TestRoot } from '../helpers/vessel.js';

// `vessel setup` as a user runs it (the built CLI): it writes only where --dest says.
let t: TestRoot;
beforeAll(() => {
  t = makeRoot('setup-cli');
});
afterAll(() => t.dispose());

describe('vessel setup', () => {
  it('rc.d installs the rendered script, executable, naming this node and vessel.js', async () => {
    const dest = join(t.root, 'rc.d', 'vessel');
    const r = await vessel(t, ['setup', 'rc.d', '--dest', dest]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`installed ${dest}\nnext: sysrc vessel_enable=YES && service vessel start\n`);
    expect(statSync(dest).mode & 0o777).toBe(0o555);
    const text = readFileSync(dest, 'utf8');
    expect(text).toContain(`: \${vessel_node:="${process.execPath}"}`);
    expect(text).toContain(`: \${vessel_cli:="${join(REPO, 'bin', 'vessel.js')}"}`);
    expect((await vessel(t, ['setup', 'rc.d', '--print'])).stdout).toBe(text);
  });

  it('host prints the lines set-up cannot do; pf the anchors', async () => {
    const host = await vessel(t, ['setup', 'host']);
    expect(host.code).toBe(0);
    expect(host.stdout).toBe(readFileSync(join(REPO, 'templates', 'freebsd', 'host-setup.txt'), 'utf8'));
    const pf = await vessel(t, ['setup', 'pf']);
    expect(pf.stdout).toContain('nat-anchor "vessel-nat/*"\nrdr-anchor "vessel-rdr/*"\n');
  });

  it('npm start\'s vassals: vassals/freebsd on FreeBSD, vassals/ on Linux (VESSEL_OS is the seam)', async () => {
    const cfg = async (env: NodeJS.ProcessEnv) => (JSON.parse((await vessel(t, ['config', '--json'], { env })).stdout) as { vassals: { value: string } }).vassals.value;
    expect(await cfg({ VESSEL_OS: 'freebsd' })).toBe(join(process.cwd(), 'vassals', 'freebsd'));
    expect(await cfg({})).toBe(join(process.cwd(), 'vassals'));
  });
});

describe('vessel plan (CLI)', () => {
  it('without --os plans for this host (hostOs); an unknown --os is one line', async () => {
    const spec = join(t.root, 'p.ini');
    writeFileSync(spec, '[container]\nimage = nothere:1\n');
    const here = await vessel(t, ['plan', spec]);
    expect(here.code).toBe(125);
    expect(here.stderr.split('\n')[0]).toBe(`vessel: ${spec}: [container] image: image "nothere:1" not found`);
    const other = await vessel(t, ['plan', '--os', 'darwin', spec]);
    expect(other.code).toBe(125);
    expect(other.stderr).toBe('vessel: --os "darwin": expected freebsd or linux\n');
  });
});
