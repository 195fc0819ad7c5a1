// Config errors an operator can act on: "did you mean" for a misspelt key, and one wording for
// every bad duration.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/agent/config/load.js';
import { configSchema, keysAt } from '../../src/agent/config/schema.js';
import { closestKey, editDistance } from '../../src/suggest.js';

function errorOf(text: string): string {
  try {
    parseConfig(text, 'config.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${text}`);
}

describe('edit distance', () => {
  const table: Array<[string, string, number]> = [
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['probe_interval', 'probe_interval', 0],
    ['probe_intervall', 'probe_interval', 1],
    ['probe_intrval', 'probe_interval', 1],
    ['probe_intreval', 'probe_interval', 1],
    ['tunels', 'tunnels', 1],
    ['kitten', 'sitting', 3],
    ['ca', 'abc', 3],
  ];
  for (const [a, b, d] of table) it(`${JSON.stringify(a)} -> ${JSON.stringify(b)}: ${d}`, () => assert.equal(editDistance(a, b), d));
});

describe('closestKey', () => {
  const keys = ['probe_interval', 'probe_timeout', 'reprobe_attempts', 'reprobe_interval', 'ike', 'child', 'name'];
  const table: Array<[string, string | undefined]> = [
    ['probe_intervall', 'probe_interval'],
    ['Probe-Interval', 'probe_interval'],
    ['probe_timout', 'probe_timeout'],
    ['reprobe_intervals', 'reprobe_interval'],
    ['ikee', 'ike'],
    ['chidl', 'child'],
    ['colour', undefined],
    ['probe', undefined],
    ['xyz', undefined],
    ['nmae', 'name'],
  ];
  for (const [key, meant] of table) it(`${key}: ${meant ?? 'no suggestion'}`, () => assert.equal(closestKey(key, keys), meant));
});

describe('keysAt: what the object at a path allows', () => {
  it('follows defaults, arrays and transforms', () => {
    assert.ok(keysAt(configSchema, []).includes('tunnels'));
    assert.ok(keysAt(configSchema, ['defaults']).includes('probe_interval'));
    assert.ok(keysAt(configSchema, ['tunnels', 3]).includes('child'));
    assert.deepEqual(keysAt(configSchema, ['log']), ['level']);
    assert.ok(keysAt(configSchema, ['alerts', 'email']).includes('starttls'));
    assert.deepEqual(keysAt(configSchema, ['nope', 'deeper']), []);
  });
});

describe('config: unknown keys, with a suggestion when one is close', () => {
  const table: Array<[string, string]> = [
    ['defaults: { probe_intervall: 5s }\ntunnels: [{ child: a }]\n', 'config.yaml: defaults: unknown key "probe_intervall" (did you mean "probe_interval"?)'],
    ['tunels: []\n', 'config.yaml: unknown key "tunels" (did you mean "tunnels"?)'],
    ['tunnels:\n  - child: a\n    probe_timout: 1s\n', 'config.yaml: tunnels[0]: unknown key "probe_timout" (did you mean "probe_timeout"?)'],
    ['vici: { sockt: "unix:///x" }\ntunnels: [{ child: a }]\n', 'config.yaml: vici: unknown key "sockt" (did you mean "socket"?)'],
    ['tunnels:\n  - child: a\n    colour: red\n', 'config.yaml: tunnels[0]: unknown key "colour"'],
    ['metrics: { listn: "127.0.0.1:1" }\ntunnels: [{ child: a }]\n', 'config.yaml: metrics: unknown key "listn" (did you mean "listen"?)'],
    // The typo is said rather than the required key it seems to lack.
    ['alerts: { email: { hots: x, from: abc, to: abc } }\ntunnels: [{ child: a }]\n', 'config.yaml: alerts.email: unknown key "hots" (did you mean "host"?)'],
  ];
  for (const [text, line] of table) it(line, () => assert.equal(errorOf(text), line));
});

describe('config: every bad duration in the same words', () => {
  const positive = 'use a positive number with a unit (500ms, 30s, 5m, 1h)';
  const zeroOk = 'use 0 or a positive number with a unit (500ms, 30s, 5m, 1h)';
  const bad: Array<[string, string, string]> = [
    ['defaults.probe_interval', '"0s"', `"0s" is not a duration: ${positive}`],
    ['defaults.probe_interval', '0', `0 is not a duration: ${positive}`],
    ['defaults.probe_interval', '-5', `-5 is not a duration: ${positive}`],
    ['defaults.probe_interval', 'abc', `"abc" is not a duration: ${positive}`],
    ['defaults.probe_interval', '"1.5.3s"', `"1.5.3s" is not a duration: ${positive}`],
    ['defaults.probe_interval', '"5 sec"', `"5 sec" is not a duration: ${positive}`],
    ['defaults.probe_interval', '"-5s"', `"-5s" is not a duration: ${positive}`],
    ['defaults.probe_interval', 'true', `true is not a duration: ${positive}`],
    ['defaults.probe_interval', '[1]', `[1] is not a duration: ${positive}`],
    ['defaults.probe_interval', 'null', `null is not a duration: ${positive}`],
    ['defaults.probe_interval', '.inf', `Infinity is not a duration: ${positive}`],
    ['defaults.backoff_cap', '"0ms"', `"0ms" is not a duration: ${positive}`],
    ['vici.command_timeout', '"0"', `"0" is not a duration: ${positive}`],
    ['alerts.webhook.timeout', '-1', `-1 is not a duration: ${positive}`],
    ['defaults.charon_grace', '-1', `-1 is not a duration: ${zeroOk}`],
    ['defaults.charon_grace', '"soon"', `"soon" is not a duration: ${zeroOk}`],
  ];
  const doc = (field: string, value: string): string => {
    const [section, key, leaf] = field.split('.') as [string, string, string | undefined];
    const inner = leaf ? `{ ${key}: { url: "https://x.example", ${leaf}: ${value} } }` : `{ ${key}: ${value} }`;
    return `${section}: ${inner}\ntunnels: [{ child: a }]\n`;
  };
  for (const [field, value, message] of bad) {
    it(`${field}: ${value}`, () => assert.equal(errorOf(doc(field, value)), `config.yaml: ${field}: ${message}`));
  }

  const good: Array<[string, string, number]> = [
    ['defaults.probe_interval', '5', 5000],
    ['defaults.probe_interval', '"5"', 5000],
    ['defaults.probe_interval', '0.5', 500],
    ['defaults.probe_interval', '500ms', 500],
    ['defaults.probe_interval', '1.5s', 1500],
    ['defaults.probe_interval', '5m', 300_000],
    ['defaults.probe_interval', '1h', 3_600_000],
    ['defaults.charon_grace', '0', 0],
    ['defaults.charon_grace', '0s', 0],
  ];
  for (const [field, value, ms] of good) {
    it(`${field}: ${value} is ${ms} ms`, () => {
      const cfg = parseConfig(doc(field, value), 'config.yaml');
      const got = field.endsWith('charon_grace') ? cfg.defaults.charonGraceMs : cfg.defaults.probeIntervalMs;
      assert.equal(got, ms);
    });
  }
});
