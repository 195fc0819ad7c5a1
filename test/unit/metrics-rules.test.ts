// The alerting rules the docs recommend: valid (promtool check rules), firing when they should and
// silent when they should not (promtool test rules over synthetic series), and the same text as
// docs/alerts.md shows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../fixtures/metrics/', import.meta.url));
/** Shipped in the package as /usr/share/ipsec-keepalive/prometheus/alert-rules.yml. */
const RULES = fileURLToPath(new URL('../../contrib/prometheus/alert-rules.yml', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/alerts.md', import.meta.url));

function promtool(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/promtool', args, { cwd: DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}

describe('recommended Prometheus alerting rules', () => {
  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', RULES]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: 7 rules found/);
  });

  it('fire (and stay quiet) as the rule tests expect', async () => {
    const r = await promtool(['test', 'rules', 'alert-rules.test.yml']);
    assert.equal(r.code, 0, r.out);
  });

  it('are the rules docs/alerts.md shows', () => {
    const rules = readFileSync(RULES, 'utf8');
    const groups = rules.slice(rules.indexOf('groups:'));
    assert.ok(readFileSync(DOCS, 'utf8').includes(groups.trimEnd()), 'docs/alerts.md does not show contrib/prometheus/alert-rules.yml verbatim (from "groups:")');
  });
});
