import { VesselError, fillTemplate } from '../util/index.js';

/** What the rc.d script needs to know of this installation: the node and the vessel.js to run. */
export interface RcScriptParams {
  node: string;
  cli: string;
}

/**
 * templates/rc.d/vessel with this installation's paths. Pure. The paths land inside a
 * double-quoted sh default (`: ${vessel_node:="…"}`), so anything the shell would expand there
 * is refused rather than quoted: an absolute path without quotes, $, ` or \ is all a path needs.
 */
export function renderRcScript(template: string, p: RcScriptParams): string {
  for (const [key, value] of Object.entries(p)) {
    if (!value.startsWith('/') || /["$`\\\n]/.test(value)) {
      throw new VesselError('E_CONFIG', `rc.d script: ${key} path ${JSON.stringify(value)} must be absolute, without quotes, $, \` or \\`);
    }
  }
  return fillTemplate(template, { node: p.node, cli: p.cli }, 'templates/rc.d/vessel');
}
