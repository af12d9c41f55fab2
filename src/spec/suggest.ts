/**
 * "did you mean …" for unknown sections, keys, capabilities and jail parameters.
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions), because the
 * commonest typo in a config file is two swapped letters: `memroy` is one edit from `memory`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    d.push(new Array<number>(b.length + 1).fill(0));
    d[i]![0] = i;
  }
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word` (case-insensitive), or undefined when none is close enough to
 * be a plausible typo: at most 1 edit for words up to 4 letters, 2 up to 8, then a third of the length.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : w.length <= 8 ? 2 : Math.floor(w.length / 3);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** `, did you mean memory?` or the empty string: for the end of an "unknown …" message. */
export function didYouMean(word: string, candidates: Iterable<string>, wrap: (s: string) => string = (s) => s): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : `, did you mean ${wrap(s)}?`;
}
