// A node:test reporter that counts tests by what they cover, so that "N passing" says what it means:
// the product's own unit tests, the lab tests against real charons, the package under a booted systemd,
// tests of the test tooling (soak checks, the demo's timeline), and the generated table of bad configs.
// scripts/test.sh and scripts/test-system.sh run it beside the spec reporter and print its table last.
import path from 'node:path';

/** The first rule whose pattern matches a test file's path (relative to the checkout) names its kind. */
const KINDS = [
  ['generated config table', /^test\/unit\/reliability-config\.test\.ts$/],
  ['test tooling', /^test\/unit\/(reliability-soak|demo-timeline)\.test\.ts$/],
  ['real charon', /^test\/integration\//],
  ['booted system', /^test\/system\//],
  ['product unit', /^test\/unit\//],
];

export function kindOf(file) {
  const rel = path.relative(process.cwd(), file ?? '').split(path.sep).join('/');
  return KINDS.find(([, re]) => re.test(rel))?.[0] ?? 'other';
}

export default async function* testKinds(source) {
  const counts = new Map();
  const count = (file, key) => {
    const kind = kindOf(file);
    const c = counts.get(kind) ?? { passed: 0, failed: 0, skipped: 0 };
    c[key]++;
    counts.set(kind, c);
  };
  for await (const { type, data } of source) {
    // Suites report too; only tests are counted.
    if ((type !== 'test:pass' && type !== 'test:fail') || data.details?.type === 'suite') continue;
    if (data.skip || data.todo) count(data.file, 'skipped');
    else count(data.file, type === 'test:pass' ? 'passed' : 'failed');
  }
  const rows = [...counts].sort(([a], [b]) => KINDS.findIndex(([k]) => k === a) - KINDS.findIndex(([k]) => k === b));
  const width = Math.max(4, ...rows.map(([k]) => k.length));
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  yield `\n${'kind'.padEnd(width)}  passed  failed  skipped\n`;
  for (const [kind, c] of rows) {
    yield `${kind.padEnd(width)}  ${String(c.passed).padStart(6)}  ${String(c.failed).padStart(6)}  ${String(c.skipped).padStart(7)}\n`;
    passed += c.passed;
    failed += c.failed;
    skipped += c.skipped;
  }
  yield `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
