import { run } from '../../util/host.js';
import type { Step } from './steps.js';

/**
 * A devfs ruleset per VNET container (devfs(8) rule subsystem, devfs.rules(5) file format),
 * created at start and deleted at removal. It starts from what ruleset 4 (devfsrules_jail)
 * shows and deliberately leaves /dev/pf hidden: the host's pf, not the container, owns the
 * container's port redirects.
 */

/** The system rulesets of /etc/defaults/devfs.rules, by number and name. */
const INCLUDES: Array<[number, string]> = [
  [1, 'devfsrules_hide_all'],
  [2, 'devfsrules_unhide_basic'],
  [3, 'devfsrules_unhide_login'],
];

export function renderDevfsRules(container: string, ruleset: number): string {
  const setName = `vessel_${container.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return [
    `# vessel: devfs ruleset of container ${container}, devfs.rules(5) format. Loaded at start with`,
    `# \`devfs rule -s ${ruleset} add …\` (devfs(8)); deleted with \`devfs rule -s ${ruleset} delset\`.`,
    `[${setName}=${ruleset}]`,
    ...INCLUDES.map(([, name]) => `add include $${name}`),
    '',
  ].join('\n');
}

export function loadRulesetSteps(ruleset: number): Step[] {
  const n = String(ruleset);
  return [
    // A leftover set with this number (crashed run) would otherwise get our rules appended.
    { argv: ['devfs', 'rule', '-s', n, 'delset'], probe: true },
    ...INCLUDES.map(([num]): Step => ({ argv: ['devfs', 'rule', '-s', n, 'add', 'include', String(num)] })),
  ];
}

export async function rulesetExists(ruleset: number): Promise<boolean> {
  const r = await run(['devfs', 'rule', '-s', String(ruleset), 'show'], { allowFailure: true });
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

export async function deleteRuleset(ruleset: number): Promise<void> {
  await run(['devfs', 'rule', '-s', String(ruleset), 'delset'], { allowFailure: true });
}
