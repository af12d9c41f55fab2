import { run, type HostResult } from '../../util/index.js';

/**
 * Start is rendered, then run: a list of argv steps built by pure functions (what `vessel plan`
 * prints and the golden transcripts hold), executed here in order. A few values only exist once
 * a command has run — the number the kernel gives a new epair, a parent's child count — so a
 * step may capture its output into a variable that later steps use as `${name}`.
 */
export interface Step {
  argv: string[];
  /** Fed to stdin (pfctl -f -). */
  input?: string;
  /** A non-zero exit is an answer, not a failure. */
  probe?: boolean;
  /** Store a value derived from the result (and the variables captured so far) in a variable. */
  capture?: { name: string; parse: (r: HostResult, vars: Readonly<Vars>) => string };
  /** Run only when the variable is empty ('' or unset). */
  unless?: string;
}

export type Vars = Record<string, string>;

const VAR = /\$\{([a-z0-9_]+)\}/g;

export function expand(text: string, vars: Vars): string {
  return text.replace(VAR, (whole, k: string) => vars[k] ?? whole);
}

export async function runSteps(steps: readonly Step[], vars: Vars = {}): Promise<Vars> {
  for (const s of steps) {
    if (s.unless !== undefined && (vars[s.unless] ?? '') !== '') continue;
    const argv = s.argv.map((a) => expand(a, vars));
    const opts = s.input === undefined ? { allowFailure: s.probe === true } : { input: expand(s.input, vars), allowFailure: s.probe === true };
    const r = await run(argv, opts);
    if (s.capture) vars[s.capture.name] = s.capture.parse(r, vars);
  }
  return vars;
}

/**
 * The steps as `vessel plan` shows them: variables become the placeholder the operator reads
 * (`epair<N>`), conditional steps say when they run.
 */
export function describeSteps(steps: readonly Step[], placeholders: Vars): string[][] {
  return steps.map((s) => {
    const argv = s.argv.map((a) => expand(a, placeholders));
    return s.unless === undefined ? argv : [...argv, `# only if ${placeholders[`${s.unless}_what`] ?? s.unless} is absent`];
  });
}
