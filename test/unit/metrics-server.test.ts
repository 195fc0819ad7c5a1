// The metrics endpoint: a landing page, /metrics and /healthz only, and a taken port is one line naming the address.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../../src/agent/observability/metrics/server.js';

describe('metrics server', () => {
  let server: MetricsServer;
  let base: string;

  before(async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: new Registry(), version: '1.2.3<x>', health: () => ({ vici: 'connected' }) });
    base = `http://${server.address}`;
  });
  after(() => server?.close());

  it('serves /metrics in the Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    await res.text();
  });

  it('serves /healthz as JSON', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', vici: 'connected' });
  });

  it('serves a landing page at / with the name, the version and links to every endpoint', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const page = await res.text();
    assert.match(page, /^<!DOCTYPE html>/);
    // The version is escaped, not markup.
    assert.match(page, /<title>ipsec-keepalive 1\.2\.3&lt;x&gt;<\/title>/);
    assert.ok(!page.includes('<x>'));
    const links = [...page.matchAll(/<a href="([^"]+)">/g)].map((m) => new URL(m[1]!, `${base}/`).pathname);
    assert.deepEqual(links, ['/metrics', '/status', '/healthz']);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const query = await fetch(`${base}/?from=browser`);
    assert.equal(query.status, 200);
    await query.text();
    const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.text();
  });

  it('answers 404 everywhere else, naming every endpoint; 405 to other methods', async () => {
    const missing = await fetch(`${base}/nope`);
    assert.equal(await missing.text(), 'not found: this endpoint serves /, /metrics, /status and /healthz\n');
    for (const path of ['//', '/index.html', '/metrics/', '/metricsx', '/debug/pprof', '/favicon.ico']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      await res.text();
    }
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.text();
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('a taken port is a one-line error naming the address', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startMetricsServer({ host: '127.0.0.1', port, registry: new Registry(), health: () => ({}) }), (err: Error) => {
        assert.equal(err.message, `metrics: cannot listen on 127.0.0.1:${port}: address already in use`);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('an IPv6 address is written in brackets', async () => {
    const s = await startMetricsServer({ host: '::1', port: 0, registry: new Registry(), health: () => ({}) });
    try {
      assert.match(s.address, /^\[::1\]:\d+$/);
    } finally {
      await s.close();
    }
  });
});
