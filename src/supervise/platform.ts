import { VesselError, run, hostOs, type OsName } from '../util/index.js';
import type { ImageRecord } from '../image/index.js';

/**
 * kldstat(8): `-q` only checks whether the module is loaded or compiled into the kernel (exit 0
 * when it is), `-m` names the module. linux64 is the Linuxulator's 64-bit ABI module.
 */
export const LINUX64_PROBE = ['kldstat', '-q', '-m', 'linux64'] as const;

/** Pure: the refusal for an image built for another OS, given what the host has. */
export function platformError(image: Pick<ImageRecord, 'name' | 'tag' | 'os'>, os: OsName, linux64Loaded: boolean): VesselError | undefined {
  const ref = `${image.name}:${image.tag}`;
  if (image.os === os) return undefined;
  if (os === 'freebsd' && image.os === 'linux') {
    // Linux ELF binaries need the Linuxulator (linux64, linprocfs, linsysfs …); vessel does not
    // set a jail up for it, so running one would fail late and obscurely inside the jail.
    return new VesselError('E_UNSUPPORTED', `image ${ref} is a Linux image (os: linux); this host runs FreeBSD jails`, {
      hint: linux64Loaded
        ? 'linux64 is loaded, but vessel runs only FreeBSD images in jails; use a FreeBSD image: `vessel image base freebsd:latest` builds one from this host, or pull a FreeBSD OCI image'
        : 'Linux binaries need the Linuxulator (kldload linux64; sysrc linux_enable=YES), and vessel runs only FreeBSD images in jails; use a FreeBSD image: `vessel image base freebsd:latest` builds one from this host',
    });
  }
  return new VesselError('E_UNSUPPORTED', `image ${ref} is a ${image.os} image (os: ${image.os}); this host runs ${os} containers`, {
    hint: image.os === 'freebsd' ? 'FreeBSD images run on FreeBSD hosts only; use a Linux image here (e.g. busybox:latest, which `npm start` builds)' : `use an image built for ${os}`,
  });
}

/** Refuse an image whose os is not this host's, before anything is created. */
export async function checkImagePlatform(image: Pick<ImageRecord, 'name' | 'tag' | 'os'>, os: OsName = hostOs()): Promise<void> {
  if (image.os === os) return;
  const linux64 = os === 'freebsd' && image.os === 'linux' ? (await run([...LINUX64_PROBE], { allowFailure: true })).exitCode === 0 : false;
  const e = platformError(image, os, linux64);
  if (e) throw e;
}
