import { invalid, show } from './fail.js';
import { didYouMean } from './suggest.js';
import { parseBool, parseInteger } from './units.js';

/**
 * The FreeBSD jail(8) parameters a spec may set in [jail]. Everything else is refused: a
 * parameter vessel does not know could undo the isolation it promises (and a typo must not be
 * silently passed to jail -c). Values are normalized to what jail.conf takes: booleans become
 * `true`/`false`, numbers lose leading zeros.
 */
export type JailParamValidator = (value: string) => string;

const bool: JailParamValidator = (v) => String(parseBool(v));
const int = (min: number, max?: number): JailParamValidator => (v) => String(parseInteger(v, min, max));
const oneOf = (...words: string[]): JailParamValidator => (v) => {
  const t = v.trim();
  if (!words.includes(t)) invalid(`${show(v)} is not one of ${words.join(', ')}`);
  return t;
};
const text: JailParamValidator = (v) => {
  // jail.conf quotes values; a quote, backslash or control character would break out of them.
  if (v === '' || /["\\\u0000-\u001f\u007f]/.test(v)) invalid(`${show(v)} must be non-empty plain text without quotes or backslashes`);
  return v;
};

const ALLOW_BOOLEANS = [
  'allow.set_hostname', 'allow.sysvipc', 'allow.raw_sockets', 'allow.chflags', 'allow.mount',
  'allow.mount.devfs', 'allow.mount.fdescfs', 'allow.mount.fusefs', 'allow.mount.linprocfs',
  'allow.mount.linsysfs', 'allow.mount.nullfs', 'allow.mount.procfs', 'allow.mount.tmpfs',
  'allow.mount.zfs', 'allow.mount.lindebugfs', 'allow.quotas', 'allow.socket_af', 'allow.mlock',
  'allow.reserved_ports', 'allow.read_msgbuf', 'allow.unprivileged_proc_debug', 'allow.suser',
  'allow.extattr', 'allow.adjtime', 'allow.settime', 'allow.vmm', 'allow.nfsd', 'allow.routing',
] as const;

export const JAIL_PARAMS: Readonly<Record<string, JailParamValidator>> = {
  ...Object.fromEntries(ALLOW_BOOLEANS.map((k) => [k, bool])),
  securelevel: int(-1, 3),
  'children.max': int(0),
  enforce_statfs: int(0, 2),
  devfs_ruleset: int(0, 65535),
  osrelease: text,
  osreldate: int(0),
  sysvmsg: oneOf('new', 'inherit', 'disable'),
  sysvsem: oneOf('new', 'inherit', 'disable'),
  sysvshm: oneOf('new', 'inherit', 'disable'),
  linux: oneOf('new', 'inherit'),
  'linux.osname': text,
  'linux.osrelease': text,
  'linux.oss_version': int(0),
};

/** Parameters vessel sets itself, with the spec key that controls each instead. */
const MANAGED: Array<[RegExp, string]> = [
  [/^path$/, "vessel sets path to the container's root"],
  [/^name$/, 'the jail is named after the container: the spec file name or --name'],
  [/^host\.hostname$/, 'use [container] hostname'],
  [/^(ip4|ip6)(\.|$)/, 'addresses come from [network] name'],
  [/^vnet(\.|$)/, 'VNET is configured from [network]'],
  [/^mount(\.|$)/, 'use [container] volume[]'],
  [/^exec\./, 'use [container] command / entrypoint (and [health] command)'],
  [/^(persist|nopersist|jid|dying)$/, "vessel manages the jail's lifetime"],
  [/^(parent|children\.cur)$/, 'use [container] parent for hierarchical jails'],
];

/** `allow.nomount` is jail(8)'s way of writing `allow.mount = false`. */
function canonical(key: string, value: string): [string, string] {
  const m = /^(allow(?:\.[a-z_]+)*)\.no([a-z_]+)$/.exec(key);
  if (m && !(key in JAIL_PARAMS)) {
    const positive = `${m[1]}.${m[2]}`;
    if (positive in JAIL_PARAMS) return [positive, String(!parseBool(value === '' ? 'true' : value))];
  }
  return [key, value];
}

/** Validate one [jail] parameter; returns the canonical key and normalized value. */
export function validateJailParam(key: string, value: string): [string, string] {
  for (const [re, hint] of MANAGED) {
    if (re.test(key)) invalid(`is set by vessel and cannot be given in [jail]`, hint);
  }
  const [k, v] = canonical(key, value);
  const check = JAIL_PARAMS[k];
  if (check === undefined) {
    invalid(`is not an allowed jail parameter${didYouMean(key, Object.keys(JAIL_PARAMS))}`,
      'allowed: allow.*, securelevel, children.max, enforce_statfs, devfs_ruleset, osrelease, osreldate, sysv*, linux*');
  }
  return [k, check(v)];
}
