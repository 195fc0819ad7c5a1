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

/** A short key tolerates one slip; a longer one two. More would suggest unrelated words. */
function tolerance(key: string): number {
  return key.length < 5 ? 1 : 2;
}

/** The allowed key `key` was most likely meant to be, or undefined. Case and -/_ do not count. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const norm = (k: string): string => k.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(norm(key), norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= tolerance(key) ? best : undefined;
}

/**
 * The known name nearest to `word` (a tunnel or CHILD_SA name), when it is near enough to be a slip
 * of the keyboard and no other name is as near: among ikev2-vpn-140/141/142, "ikev2-vpn-14" names none.
 */
export function closest(word: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  let tie = false;
  for (const k of new Set(known)) {
    if (k === word) continue;
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance) {
      tie = true;
    }
  }
  return best !== undefined && bestDistance <= limit && !tie ? best : undefined;
}
