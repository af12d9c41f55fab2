import { imageFiles, parseGroup, parsePasswd, resolveIdentity, type ContainerConfig, type Identity } from '../../runtime/index.js';
import { check, type ContractCase } from '../contract.js';
import { PROBE_MOUNT, expectExit, reportLines, logOf, withProbe, withRunning } from '../probe.js';

/**
 * The command runs as the spec says: the user's numeric ids from the image's own /etc/passwd
 * (and its groups from /etc/group), in the working directory, with exactly the environment
 * given — nothing added (no default applies to what the spec gives), nothing from the host.
 */

/** A directory every case container has, whatever its image: the probe's own mount. */
const WORKDIR = PROBE_MOUNT;
/**
 * PATH, HOME and HOSTNAME are given: each driver adds a default for the ones a spec lacks (Linux's
 * vessel-init all three, FreeBSD's plan PATH and HOME), and the spec's own must win.
 */
const ENV = ['PATH=/selftest/bin:/bin:/usr/bin', 'HOME=/selftest-home', 'HOSTNAME=from-the-spec', 'SELFTEST_A=one', 'SELFTEST_SPACES=a b  c', 'SELFTEST_EMPTY='];
/** An image without account files (a ZFS root not cloned yet) runs a numeric user the image does not know. */
const UNKNOWN_USER = '4242:4242';

/** A user of the image other than root, preferring one with supplementary groups (they are checked too). */
export function caseUser(cfg: ContainerConfig): string {
  let files;
  try {
    files = imageFiles(cfg);
  } catch {
    return UNKNOWN_USER;
  }
  const members = new Set(parseGroup(files.group ?? '').flatMap((g) => g.members));
  const users = parsePasswd(files.passwd ?? '').filter((p) => p.uid !== 0);
  return (users.find((u) => members.has(u.name)) ?? users[0])?.name ?? UNKNOWN_USER;
}

function expected(cfg: ContainerConfig, id: Identity): string[] {
  return [
    `uid ${id.uid}`,
    `gid ${id.gid}`,
    `groups ${[...new Set(id.groups)].sort((a, b) => a - b).join(',')}`,
    `cwd ${cfg.workdir}`,
    `hostname ${cfg.hostname}`,
    ...cfg.env.map((e) => `env ${e}`),
  ];
}

export const IDENTITY_CASES: readonly ContractCase[] = [
  {
    id: 'identity',
    feature: 'user, working directory and environment exactly as the spec says',
    title: 'a user of the image runs with its numeric ids and groups from the image, in the working directory, with exactly the spec\'s environment',
    configure: (base, h) => ({ ...withProbe(base, h, [['identity'], ['exit', '0']]), user: caseUser(base), workdir: WORKDIR, env: ENV }),
    async run(h, cfg) {
      const want = expected(cfg, resolveIdentity(cfg.user, imageFiles(cfg)));
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 0 }, 'the identity probe');
        const got = reportLines(log);
        check(JSON.stringify(got) === JSON.stringify(want), `user ${cfg.user}: expected [${want.join(' | ')}], got [${got.join(' | ')}]`);
      });
    },
  },
];
