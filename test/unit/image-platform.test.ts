import { describe, expect, it } from 'vitest';
import { Recorder, setHostRunner } from '../../src/util/host.js';
import { checkImagePlatform, LINUX64_PROBE, platformError } from '../../src/supervise/platform.js';
import { isVesselError } from '../../src/util/errors.js';

// An image's os (its OCI config) must be the host's: a Linux image on FreeBSD would need the
// Linuxulator, which vessel never sets up by accident; a FreeBSD image cannot run on Linux at all.
const linuxImage = { name: 'busybox', tag: 'latest', os: 'linux' };
const bsdImage = { name: 'freebsd', tag: 'latest', os: 'freebsd' };

async function refusal(image: typeof linuxImage, os: 'linux' | 'freebsd', host: Recorder) {
  const restore = setHostRunner(host);
  try {
    await checkImagePlatform(image, os);
    return undefined;
  } catch (e) {
    if (!isVesselError(e)) throw e;
    return e;
  } finally {
    restore();
  }
}

describe('image os against the host', () => {
  it('same os: accepted, nothing probed', async () => {
    const host = new Recorder();
    expect(await refusal(bsdImage, 'freebsd', host)).toBeUndefined();
    expect(await refusal(linuxImage, 'linux', host)).toBeUndefined();
    expect(host.calls).toEqual([]);
  });

  it('os: linux on FreeBSD without linux64: refused, the hint says how the Linuxulator is loaded', async () => {
    const host = new Recorder().respond(LINUX64_PROBE.join(' '), { exitCode: 1 });
    const e = await refusal(linuxImage, 'freebsd', host);
    expect(host.transcript()).toBe('kldstat -q -m linux64\n');
    expect(e?.code).toBe('E_UNSUPPORTED');
    expect(e?.message).toBe('image busybox:latest is a Linux image (os: linux); this host runs FreeBSD jails');
    expect(e?.hint).toContain('kldload linux64; sysrc linux_enable=YES');
    expect(e?.hint).toContain('vessel image base freebsd:latest');
  });

  it('os: linux on FreeBSD with linux64 loaded: still refused, and the hint says so', async () => {
    const host = new Recorder().respond(LINUX64_PROBE.join(' '), { exitCode: 0 });
    const e = await refusal(linuxImage, 'freebsd', host);
    expect(e?.hint).toMatch(/^linux64 is loaded, but vessel runs only FreeBSD images in jails/);
  });

  it('os: freebsd on Linux: refused without probing', async () => {
    const host = new Recorder();
    const e = await refusal(bsdImage, 'linux', host);
    expect(host.calls).toEqual([]);
    expect(e?.message).toBe('image freebsd:latest is a freebsd image (os: freebsd); this host runs linux containers');
    expect(platformError(bsdImage, 'linux', false)?.hint).toMatch(/^FreeBSD images run on FreeBSD hosts only/);
  });
});
