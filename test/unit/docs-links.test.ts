// The user docs (README.md and docs/*.md) stay what users need: the README small enough to read,
// every relative link pointing at a file (and heading) that exists, and no internal bookkeeping
// (issue numbers, commit hashes) left in the text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = path.join(ROOT, 'README.md');
const DOCS_DIR = path.join(ROOT, 'docs');
const README_MAX_BYTES = 16_384;

const DOCS: string[] = [
  README,
  ...readdirSync(DOCS_DIR)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join(DOCS_DIR, f)),
];

const rel = (file: string): string => path.relative(ROOT, file);

/** The text outside fenced code blocks (``` or ~~~), where a `[text](path)` is a link. */
export function withoutFences(md: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of md.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === undefined && m) fence = m[1];
    else if (fence !== undefined && m && m[1]!.startsWith(fence)) fence = undefined;
    else if (fence === undefined) out.push(line);
  }
  return out.join('\n');
}

/** Inline links `[text](target)` and `[text](target "title")`; images too. */
export function markdownLinks(md: string): string[] {
  const links: string[] = [];
  for (const m of withoutFences(md).matchAll(/\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push(m[1]!);
  return links;
}

/** True for links that leave the repository: any URL scheme (http, https, mailto, ...). */
const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, -1, -2 for repeats. */
export function headingAnchors(md: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(md).split('\n')) {
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** `#123` issue references; an upstream "strongSwan #2776" is a reference users can follow. */
export function issueReferences(text: string): string[] {
  return [...text.matchAll(/(?<!strongSwan )(?<![\w&])#\d+\b/g)].map((m) => m[0]);
}

/** Words that look like git commit hashes: 7-40 lower-case hex digits with both a letter and a digit. */
export function commitHashLike(text: string): string[] {
  return [...text.matchAll(/(?<![\w.-])[0-9a-f]{7,40}(?![\w-])/g)]
    .map((m) => m[0])
    .filter((w) => /[a-f]/.test(w) && /[0-9]/.test(w));
}

describe('user docs', () => {
  it(`README.md is at most ${README_MAX_BYTES} bytes`, () => {
    const size = statSync(README).size;
    assert.ok(size <= README_MAX_BYTES, `README.md is ${size} bytes; move details into docs/ (limit ${README_MAX_BYTES})`);
  });

  it('finds the docs it checks', () => {
    assert.ok(DOCS.length > 1, `only ${DOCS.map(rel).join(', ')}`);
    assert.ok(markdownLinks(readFileSync(README, 'utf8')).some((l) => l.startsWith('docs/')), 'README.md links no docs/ file');
  });

  for (const file of DOCS) {
    const md = readFileSync(file, 'utf8');

    it(`${rel(file)}: every relative link resolves to a file in the repository`, () => {
      const broken: string[] = [];
      for (const link of markdownLinks(md)) {
        if (isExternal(link)) continue;
        const [target = '', anchor] = link.split('#', 2);
        const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(target));
        if (path.relative(ROOT, resolved).startsWith('..')) {
          broken.push(`${link} (outside the repository)`);
        } else if (!existsSync(resolved)) {
          broken.push(`${link} (no such file)`);
        } else if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile() && !headingAnchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${link} (no heading #${anchor} in ${rel(resolved)})`);
        }
      }
      assert.deepEqual(broken, [], `${rel(file)}: broken links`);
    });

    it(`${rel(file)}: no issue numbers or commit hashes`, () => {
      assert.deepEqual(issueReferences(md), [], `${rel(file)}: issue references (only "strongSwan #N" may stay)`);
      assert.deepEqual(commitHashLike(md), [], `${rel(file)}: commit hashes`);
    });
  }
});

describe('the docs checks themselves', () => {
  it('find links outside code fences only, and skip URLs', () => {
    const md = 'See [a](docs/a.md) and [b](docs/b.md#x "t").\n```\n[c](nope.md)\n```\n[d](https://example.net) [e](mailto:x@example.net)';
    assert.deepEqual(markdownLinks(md), ['docs/a.md', 'docs/b.md#x', 'https://example.net', 'mailto:x@example.net']);
    assert.deepEqual(markdownLinks(md).filter((l) => !isExternal(l)), ['docs/a.md', 'docs/b.md#x']);
  });

  it('make GitHub heading anchors', () => {
    const a = headingAnchors('# Title\n## The VICI client (src/vici)\n### Targets missed, and why\n## Title\n```\n# not a heading\n```');
    assert.deepEqual([...a], ['title', 'the-vici-client-srcvici', 'targets-missed-and-why', 'title-1']);
  });

  it('flag issue numbers but not strongSwan issues, headings or entities', () => {
    assert.deepEqual(issueReferences('fixed in #6, see issue #12; strongSwan #2776 stays; ## 3 items; &#160; a#1'), ['#6', '#12']);
  });

  it('flag commit hashes but not numbers, words or names', () => {
    assert.deepEqual(commitHashLike('commit 935d35c and 3ff0364a; 20251127 1740830444 deadbeef facade ikev2-vpn-140 Ed25519 v20.20.2 0x1f2e3d4c'), ['935d35c', '3ff0364a']);
  });
});
