import { VesselError } from './errors.js';

/**
 * Fills `{{name}}` placeholders of a template vessel ships (emperor.ini, jail.conf, rc.d, Slurm
 * batch script). One pass, so a value that itself contains `{{X}}` (a spec's text) is never
 * expanded again; a placeholder without a value is an error naming the template, because a
 * template and its renderer that disagree would otherwise ship `{{x}}` to uWSGI, jail(8) or sh.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>, what: string): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new VesselError('E_CONFIG', `${what}: unknown placeholder {{${name}}}`);
    return v;
  });
}
