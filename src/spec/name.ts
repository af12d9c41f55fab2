import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalid, show } from './fail.js';

/**
 * Container names become jail names, cgroup and interface prefixes, state directories and the
 * Emperor's vassal file name; the pattern keeps them safe in all of these. ':' is excluded
 * because uWSGI reads a vassal name with ':' as a broodlord zerg.
 */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function validateName(name: string, what = 'name'): string {
  if (!NAME_RE.test(name)) {
    invalid(
      `${show(name)} is not a valid ${what}`,
      'use 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit (no ":")',
    );
  }
  return name;
}

const SPEC_EXTENSIONS = ['.ini', '.vessel'];

/**
 * The container name a spec file gives: its base name without `.ini` / `.vessel`.
 * A `NAME.ini.off` file is a disabled spec (the watcher ignores it); it yields NAME only when
 * the caller asks with `allowOff` — otherwise its name would silently be `NAME.ini`.
 */
export function nameFromFile(file: string, opts: { allowOff?: boolean } = {}): string {
  let base = basename(file);
  if (base.endsWith('.off')) {
    if (!opts.allowOff) invalid(`${show(base)} is a disabled spec (.off); it has no container name unless one is given`);
    base = base.slice(0, -4);
  }
  for (const ext of SPEC_EXTENSIONS) {
    if (base.endsWith(ext) && base.length > ext.length) return validateName(base.slice(0, -ext.length));
  }
  return validateName(base);
}

/** A name for `vessel run` without --name: the image's last path part plus random hex. */
export function generateName(image: string): string {
  const last = image.split('@')[0]!.split('/').pop() ?? 'vessel';
  const stem = last.replace(/:[^:]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48);
  return `${stem || 'vessel'}-${randomBytes(4).toString('hex')}`;
}
