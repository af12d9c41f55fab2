import { readFileSync } from 'node:fs';
import { VesselError, hasErrno, run } from '../../util/index.js';
import { devfsRulesetNumber } from './names.js';
import type { Resource } from '../types.js';
import type { Step } from './steps.js';

/**
 * A devfs ruleset per VNET container (devfs(8) rule subsystem, devfs.rules(5) file format). This
 * module makes it, finds it after a crash and deletes it, and only one it recorded itself.
 *
 * Rulesets are global numbers that nobody owns: other jail managers (iocage, AppJail) number
 * theirs from 1000 too, and deleting one un-hides devices in jails that use it. So the number is
 * chosen at start among free ones (`devfs rule -s N show` prints nothing), written into the
 * container's devfs.rules before the first rule is added, and the leftover sweep deletes the
 * number that file names — never one derived from the name alone.
 */

/**
 * What the stock jail ruleset shows (/etc/defaults/devfs.rules, `[devfsrules_jail=4]`: include
 * $devfsrules_hide_all, $devfsrules_unhide_basic, $devfsrules_unhide_login, `path fuse unhide`,
 * `path zfs unhide`), so a VNET container sees the devices a non-VNET one (ruleset 4) sees.
 * /dev/pf stays hidden, as in 4 and unlike devfsrules_jail_vnet=5: the host's pf, not the
 * container, owns the container's port redirects.
 */
const RULES: Array<{ rule: string[]; text: string }> = [
  { rule: ['include', '1'], text: 'add include $devfsrules_hide_all' },
  { rule: ['include', '2'], text: 'add include $devfsrules_unhide_basic' },
  { rule: ['include', '3'], text: 'add include $devfsrules_unhide_login' },
  { rule: ['path', 'fuse', 'unhide'], text: 'add path fuse unhide' },
  { rule: ['path', 'zfs', 'unhide'], text: 'add path zfs unhide' },
];

export function renderDevfsRules(container: string, ruleset: number): string {
  const setName = `vessel_${container.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return [
    `# vessel: devfs ruleset of container ${container}, devfs.rules(5) format; the same devices as devfsrules_jail (4).`,
    `# Loaded at start with \`devfs rule -s ${ruleset} add …\` (devfs(8)); deleted with \`devfs rule -s ${ruleset} delset\`.`,
    `# This file is the record that ${ruleset} is this container's: the leftover sweep deletes only the number named here.`,
    `[${setName}=${ruleset}]`,
    ...RULES.map((r) => r.text),
    '',
  ].join('\n');
}

/** The rules, added to a ruleset that was free when chosen (no `delset` first: it may be someone's). */
export function loadRulesetSteps(ruleset: number): Step[] {
  const n = String(ruleset);
  return RULES.map((r): Step => ({ argv: ['devfs', 'rule', '-s', n, 'add', ...r.rule] }));
}

export function showRulesetArgv(ruleset: number): string[] {
  return ['devfs', 'rule', '-s', String(ruleset), 'show'];
}

/** devfs rulesets are 16-bit; below 1000 belongs to the system and the admin. */
const FIRST = 1000;
const LAST = 64999;
const TRIES = 16;

/** The numbers tried for a container, in order: its own hash first, then the next ones. */
export function rulesetCandidates(name: string): number[] {
  const first = devfsRulesetNumber(name);
  return Array.from({ length: TRIES }, (_, i) => FIRST + ((first - FIRST + i) % (LAST - FIRST + 1)));
}

export async function rulesetExists(ruleset: number): Promise<boolean> {
  const r = await run(showRulesetArgv(ruleset), { allowFailure: true });
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/** The first free ruleset number for the container; an occupied one belongs to someone else. */
export async function chooseRuleset(name: string): Promise<number> {
  const tried = rulesetCandidates(name);
  for (const n of tried) if (!(await rulesetExists(n))) return n;
  throw new VesselError('E_RUNTIME', `container ${name}: devfs rulesets ${tried[0]}–${tried[tried.length - 1]} are all in use by other jails or managers`, {
    hint: '`devfs rule showsets` lists them; remove the ones no jail uses, or rename the container',
  });
}

/** The ruleset number a container's devfs.rules records (`[vessel_NAME=N]`), if the file exists. */
export function recordedRuleset(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
  const m = /^\[[A-Za-z0-9_]+=(\d+)\]$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export async function deleteRuleset(ruleset: number): Promise<void> {
  await run(['devfs', 'rule', '-s', String(ruleset), 'delset'], { allowFailure: true });
}

/**
 * A recorded ruleset, removed. Its resource is named by its record, the run's devfs.rules (render.ts):
 * the number a start records before it chose a free one is a guess — two runs of one container
 * beside each other (a zero-downtime reload) guess the same number and hold different ones — so the
 * number the file names is deleted, and none without the file. A resource named by a number was
 * recorded by an older vessel: that number.
 */
export async function removeRuleset(r: Resource): Promise<void> {
  const n = r.id.startsWith('/') ? recordedRuleset(r.id) : Number(r.id);
  if (n !== undefined && Number.isInteger(n)) await deleteRuleset(n);
}

/** The ruleset a run's devfs.rules records, if it still has rules (never a derived number). */
export async function rulesetLeftovers(file: string): Promise<Resource[]> {
  const n = recordedRuleset(file);
  return n !== undefined && (await rulesetExists(n)) ? [{ kind: 'devfs-ruleset', id: file, detail: { ruleset: String(n) } }] : [];
}
