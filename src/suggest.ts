// "Did you mean": the allowed key (or tunnel name) closest to a misspelt one, by edit distance, or none
// when nothing is close enough to be the same word mistyped.

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** A short word tolerates one slip; a longer one two. More would suggest unrelated words. */
function tolerance(word: string): number {
  return word.length < 5 ? 1 : 2;
}

/**
 * The known word `word` was most likely meant to be: the nearest within the tolerance, and only when
 * no other is as near (among ikev2-vpn-140/141/142, "ikev2-vpn-14" names none). Case does not
 * count; with `normalise`, neither does - against _ (config keys).
 */
export function closest(word: string, known: Iterable<string>, opts: { normalise?: boolean } = {}): string | undefined {
  const norm = (k: string): string => (opts.normalise ? k.toLowerCase().replace(/-/g, '_') : k.toLowerCase());
  let best: string | undefined;
  let bestDistance = Infinity;
  let tie = false;
  for (const candidate of new Set(known)) {
    if (candidate === word) continue;
    const d = editDistance(norm(word), norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance) {
      tie = true;
    }
  }
  return best !== undefined && bestDistance <= tolerance(word) && !tie ? best : undefined;
}

/** The allowed config key `key` was most likely meant to be, or undefined. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  return closest(key, allowed, { normalise: true });
}
