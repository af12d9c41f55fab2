import { formatCommand, quoteValue } from '../spec/index.js';

/**
 * The INI a service becomes: only the keys the compose file gave (plus `restart`, whose default
 * differs: compose's is `no`, a spec file's `always`), in the order docs/spec.md lists them, so a
 * person can read and edit the result. Values are quoted by the spec's own writer.
 */
export type Value = { text: string } | { argv: string[] };

export interface SpecDraft {
  /** Comment lines at the top (source, build instructions). */
  comments: string[];
  sections: Record<'container' | 'network' | 'limits' | 'security' | 'health', Array<[string, Value]>>;
}

export function emptyDraft(): SpecDraft {
  return { comments: [], sections: { container: [], network: [], limits: [], security: [], health: [] } };
}

export function renderDraft(d: SpecDraft): string {
  const out = d.comments.map((c) => `# ${c}`);
  for (const [name, entries] of Object.entries(d.sections)) {
    if (entries.length === 0) continue;
    out.push('', `[${name}]`);
    for (const [k, v] of entries) out.push(`${k} = ${'argv' in v ? formatCommand(v.argv) : quoteValue(v.text)}`);
  }
  return out.join('\n').replace(/^\n/, '') + '\n';
}
