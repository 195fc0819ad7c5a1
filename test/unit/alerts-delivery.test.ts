// Alerts end to end against real receivers on 127.0.0.1: an HTTP server taking the generic
// webhook and the Slack format, and a real SMTP server (smtp-server, with and without AUTH).
// Events are emitted on an Agent-like emitter; the messages are checked where they arrive.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { SMTPServer } from 'smtp-server';
import { AlertDispatcher } from '../../src/agent/observability/alerts/index.js';
import { parseConfig } from '../../src/agent/config/load.js';
import { REDACT_PATHS } from '../../src/agent/observability/logger.js';
import { AgentMetrics } from '../../src/agent/observability/metrics/index.js';
import { waitFor } from '../../lab/wait.js';
import { FakeAgent, FakeVici, LAB_YAML } from './metrics-fake-agent.js';

const WEBHOOK_TOKEN = 'whk-9f8e7d6c5b4a39281706';
const WEBHOOK_QUERY_SECRET = 'qs-51a2b3c4d5e6f708';
const SLACK_TOKEN = 'XoXsLaCkSeCrEt0123456789';
const SMTP_USER = 'alerts@gw.example';
const SMTP_PASSWORD = 'pw-Zq7!tR4#smtp-s3cret';
const SECRETS = [WEBHOOK_TOKEN, WEBHOOK_QUERY_SECRET, SLACK_TOKEN, SMTP_PASSWORD, Buffer.from(SMTP_PASSWORD).toString('base64')];

/** Everything any logger in this file printed, for the secrets check. */
let logged = '';
function captureLogger(): Logger {
  return pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => void (logged += s) });
}

interface Received {
  path: string;
  body: Record<string, unknown>;
}

class HttpReceiver {
  readonly got: Received[] = [];
  /** Answer this many requests with `failStatus` before accepting. */
  failNext = 0;
  failStatus = 500;
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  events(pathPrefix: string): string[] {
    return this.got.filter((r) => r.path.startsWith(pathPrefix)).map((r) => String(r.body['event'] ?? r.body['text']));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    if (this.failNext > 0) {
      this.failNext--;
      // An error page that echoes the URL, as some proxies do: it must not reach the log.
      res.writeHead(this.failStatus, { 'content-type': 'text/plain' }).end(`failed ${req.url}`);
      return;
    }
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json');
    this.got.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  }
}

interface Mail {
  from: string;
  to: string[];
  raw: string;
  subject: string;
  user?: string;
}

class SmtpReceiver {
  readonly mails: Mail[] = [];
  readonly logins: Array<{ user: string; ok: boolean }> = [];
  failNext = 0;
  port = 0;
  private server: SMTPServer;

  constructor(auth?: { user: string; pass: string }) {
    this.server = new SMTPServer({
      logger: false,
      // Plain SMTP on loopback (the channel's starttls: false); TLS is nodemailer's, not ours, to test.
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: !auth,
      allowInsecureAuth: true,
      onAuth: (a, _session, cb) => {
        const ok = !!auth && a.username === auth.user && a.password === auth.pass;
        this.logins.push({ user: a.username ?? '', ok });
        if (ok) cb(null, { user: a.username });
        else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onMailFrom: (_addr, _session, cb) => {
        if (this.failNext > 0) {
          this.failNext--;
          cb(Object.assign(new Error('mailbox busy, try again later'), { responseCode: 451 }));
          return;
        }
        cb();
      },
      onData: (stream, session, cb) => {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          const subject = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(raw)?.[1]?.replace(/\r\n[ \t]/g, ' ') ?? '';
          const mail: Mail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            subject,
          };
          if (typeof session.user === 'string') mail.user = session.user;
          this.mails.push(mail);
          cb();
        });
      },
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function config(alertsYaml: string): ReturnType<typeof parseConfig> {
  return parseConfig(`${LAB_YAML}alerts:\n${alertsYaml.replace(/^/gm, '  ')}\n`, 'alerts-test.yaml');
}

async function metricValue(m: AgentMetrics, series: string): Promise<number> {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

interface Rig {
  agent: FakeAgent;
  metrics: AgentMetrics;
  alerts: AlertDispatcher;
}

function rig(alertsYaml: string, tuning: ConstructorParameters<typeof AlertDispatcher>[0]['tuning'] = {}): Rig {
  const cfg = config(alertsYaml);
  const agent = new FakeAgent(cfg).start();
  const metrics = new AgentMetrics({ agent, vici: new FakeVici(), tunnels: cfg.tunnels, version: 'test' });
  const alerts = new AlertDispatcher({ agent, log: captureLogger(), counters: metrics, version: '0.1.0-test', host: 'gw-test', tuning: { retryBaseMs: 50, retryCapMs: 200, ...tuning } });
  alerts.configure(cfg.alerts);
  metrics.initAlertChannels(alerts.channels);
  return { agent, metrics, alerts };
}

const A = { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140' };

/** A stale tunnel's whole story as the agent tells it, with the repetition a real run has. */
function playOutage(agent: FakeAgent, at: number): void {
  agent.emit('vici-lost', { error: 'connection closed', at });
  agent.emit('vici-lost', { error: 'ECONNREFUSED', at: at + 10 });
  agent.emit('vici-restored', { downMs: 1500, at: at + 1500 });
  for (let i = 0; i < 30; i++) {
    // Thirty failed probe rounds: each a health report, each re-announcing the outage.
    agent.emit('tunnel-down', { ...A, why: 'probes fail: tcp 198.51.100.140:9802: timeout after 1000 ms', at: at + 2000 + i });
  }
  agent.emit('action', { ...A, kind: 'restart-child', reason: 'probe', result: 'ok', ms: 30 });
  for (let i = 0; i < 3; i++) {
    agent.emit('escalated', { ...A, to: 'restart-ike', failures: i, nextAttemptInMs: 0 });
    agent.emit('action', { ...A, kind: 'restart-ike', reason: 'probe', result: 'error', ms: 5000, error: 'initiate timed out' });
    agent.emit('escalated', { ...A, to: 'backoff', failures: i + 1, nextAttemptInMs: 1000 * 2 ** i });
  }
  agent.emit('charon-alert', { type: 'retransmit-send-timeout', detail: { type: 'retransmit-send-timeout' } });
  agent.emit('charon-alert', { type: 'retransmit-send-timeout', detail: { type: 'retransmit-send-timeout' } });
  agent.emit('tunnel-repaired', { ...A, downMs: 42_000, at: at + 44_000 });
  agent.emit('tunnel-repaired', { ...A, downMs: 42_000, at: at + 44_000 });
}

const STORY = ['vici-lost', 'vici-restored', 'tunnel-down', 'escalated', 'backoff', 'charon-alert', 'tunnel-repaired'];

describe('alerts delivered to real receivers', () => {
  let http: HttpReceiver;
  let smtp: SmtpReceiver;
  let smtpAuth: SmtpReceiver;
  const rigs: Rig[] = [];
  const start = (yaml: string, tuning?: Parameters<typeof rig>[1]): Rig => {
    const r = rig(yaml, tuning);
    rigs.push(r);
    return r;
  };

  before(async () => {
    http = await new HttpReceiver().start();
    smtp = await new SmtpReceiver().start();
    smtpAuth = await new SmtpReceiver({ user: SMTP_USER, pass: SMTP_PASSWORD }).start();
  });

  after(async () => {
    for (const r of rigs) await r.alerts.close();
    await http?.stop();
    await smtp?.stop();
    await smtpAuth?.stop();
  });

  it('webhook, Slack and email each get one message per change of state, in order', async () => {
    const { agent, metrics, alerts } = start(`
webhook: { url: "${http.url(`/generic/${WEBHOOK_TOKEN}?key=${WEBHOOK_QUERY_SECRET}`)}" }
slack: { url: "${http.url(`/services/T000/B000/${SLACK_TOKEN}`)}" }
email: { host: 127.0.0.1, port: ${smtp.port}, starttls: false, from: "ipsec-keepalive@gw.example", to: ["noc@example.net", "oncall@example.net"] }
rate_limit_per_minute: 100
`);
    const at = Date.parse('2025-03-01T12:00:00Z');
    playOutage(agent, at);
    await alerts.drained();
    await waitFor(() => smtp.mails.length >= STORY.length, { timeoutMs: 10_000, what: 'all emails' });

    assert.deepEqual(http.events('/generic/'), STORY);
    const down = http.got.find((r) => r.path.startsWith('/generic/') && r.body['event'] === 'tunnel-down')!.body;
    assert.equal(down['source'], 'ipsec-keepalive');
    assert.equal(down['host'], 'gw-test');
    assert.equal(down['severity'], 'critical');
    assert.equal(down['tunnel'], 'branch-a');
    assert.equal(down['ike'], 'ikev2-vpn');
    assert.equal(down['child'], 'ikev2-vpn-140');
    assert.equal(down['message'], 'tunnel branch-a down: probes fail: tcp 198.51.100.140:9802: timeout after 1000 ms');
    assert.equal(down['time'], '2025-03-01T12:00:02.000Z');
    assert.equal(down['timestamp'], (at + 2000) / 1000);
    const repaired = http.got.find((r) => r.body['event'] === 'tunnel-repaired')!.body;
    assert.equal(repaired['down_seconds'], 42);
    assert.equal(repaired['since'], '2025-03-01T12:00:02.000Z');
    assert.equal(repaired['message'], 'tunnel branch-a repaired after 42 s down');
    const vici = http.got.find((r) => r.body['event'] === 'vici-lost')!.body;
    assert.equal(vici['tunnel'], null);

    const slack = http.got.filter((r) => r.path.startsWith('/services/')).map((r) => r.body);
    assert.equal(slack.length, STORY.length);
    for (const s of slack) {
      assert.equal(typeof s['text'], 'string');
      assert.ok(Array.isArray(s['blocks']));
      assert.deepEqual(Object.keys(s).sort(), ['blocks', 'text']);
    }
    assert.match(String(slack[2]!['text']), /^:red_circle: tunnel branch-a down: .* \(gw-test\)$/);
    assert.match(JSON.stringify(slack[2]!['blocks']), /tunnel `branch-a`/);

    assert.deepEqual(
      smtp.mails.map((m) => m.subject),
      [
        '[ipsec-keepalive DOWN] gw-test: lost the VICI connection to charon (connection closed); tunnels are not watched until it is back',
        '[ipsec-keepalive OK] gw-test: VICI connection to charon restored after 1.5 s',
        '[ipsec-keepalive DOWN] gw-test: tunnel branch-a down: probes fail: tcp 198.51.100.140:9802: timeout after 1000 ms',
        '[ipsec-keepalive WARN] gw-test: tunnel branch-a: traffic still fails after a CHILD_SA restart; restarting IKE_SA ikev2-vpn',
        '[ipsec-keepalive WARN] gw-test: tunnel branch-a: 1 repair failed; backing off, next attempt in 1.0 s (further attempts are not announced until it is repaired)',
        '[ipsec-keepalive WARN] gw-test: charon alert: retransmit-send-timeout',
        '[ipsec-keepalive OK] gw-test: tunnel branch-a repaired after 42 s down',
      ],
    );
    assert.deepEqual(smtp.mails[0]!.to, ['noc@example.net', 'oncall@example.net']);
    assert.equal(smtp.mails[0]!.from, 'ipsec-keepalive@gw.example');
    assert.match(smtp.mails[6]!.raw, /down for: 42 s/);

    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_sent_total{channel="webhook",event="tunnel-down"}'), 1);
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_sent_total{channel="email",event="tunnel-repaired"}'), 1);
    // 29 repeated downs, 2 IKE restarts, 2 backoffs, 1 vici-lost, 1 charon alert, 1 repaired
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_dropped_total{channel="slack",reason="duplicate"}'), 36);
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_failed_total{channel="webhook"}'), 0);
  });

  it('SMTP with AUTH: logs in and delivers; a wrong password is retried, then dropped and counted', async () => {
    const good = start(`
email: { host: 127.0.0.1, port: ${smtpAuth.port}, starttls: false, user: "${SMTP_USER}", password: "${SMTP_PASSWORD}", from: "gw@example.net", to: "noc@example.net" }
`);
    good.agent.emit('tunnel-down', { ...A, why: 'no CHILD_SA installed', at: Date.now() });
    await good.alerts.drained();
    await waitFor(() => smtpAuth.mails.length === 1, { what: 'the authenticated email' });
    assert.equal(smtpAuth.mails[0]!.user, SMTP_USER);
    assert.deepEqual(smtpAuth.logins, [{ user: SMTP_USER, ok: true }]);

    const bad = start(`
email: { host: 127.0.0.1, port: ${smtpAuth.port}, starttls: false, user: "${SMTP_USER}", password: "not-${SMTP_PASSWORD}", from: "gw@example.net", to: "noc@example.net" }
retries: 2
`);
    bad.agent.emit('tunnel-down', { ...A, why: 'no CHILD_SA installed', at: Date.now() });
    await bad.alerts.drained();
    assert.equal(smtpAuth.mails.length, 1);
    assert.equal(smtpAuth.logins.filter((l) => !l.ok).length, 3);
    assert.equal(await metricValue(bad.metrics, 'ipsec_keepalive_alerts_failed_total{channel="email"}'), 3);
    assert.equal(await metricValue(bad.metrics, 'ipsec_keepalive_alerts_dropped_total{channel="email",reason="retries-exhausted"}'), 1);
  });

  it('rate limit per channel: the excess is counted and summarised once the window has room', async () => {
    const { agent, metrics, alerts } = start(
      `
webhook: { url: "${http.url(`/limited/${WEBHOOK_TOKEN}`)}" }
rate_limit_per_minute: 2
`,
      { windowMs: 400 },
    );
    for (let i = 0; i < 10; i++) agent.emit('tunnel-down', { tunnel: `site-${i}`, child: `child-${i}`, why: 'no CHILD_SA installed', at: Date.now() });
    await alerts.drained();
    assert.deepEqual(http.events('/limited/'), ['tunnel-down', 'tunnel-down']);
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_dropped_total{channel="webhook",reason="rate-limit"}'), 8);
    await waitFor(() => http.events('/limited/').length === 3, { timeoutMs: 5000, what: 'the rate-limit summary' });
    const summary = http.got.filter((r) => r.path.startsWith('/limited/'))[2]!.body;
    assert.equal(summary['event'], 'suppressed');
    assert.match(String(summary['message']), /^rate limit \(2\/min\) held back 8 alerts in the last .*: 8 tunnel-down \(site-2, site-3, site-4, site-5, site-6 \+3 more\)$/);
    assert.deepEqual(summary['details'], { held_back: 8, 'tunnel-down': 8 });
  });

  it('a failing receiver (HTTP 500, connection refused, SMTP 451) gets its messages after retries, in order', async () => {
    // A port with nothing listening yet: connection refused until the receiver comes up.
    const late = new HttpReceiver();
    await late.start();
    const latePort = late.port;
    await late.stop();

    http.failNext = 2;
    smtp.failNext = 2;
    const mailsBefore = smtp.mails.length;
    const { agent, metrics, alerts } = start(
      `
webhook: { url: "${http.url(`/flaky/${WEBHOOK_TOKEN}`)}" }
slack: { url: "http://127.0.0.1:${latePort}/services/T1/B1/${SLACK_TOKEN}" }
email: { host: 127.0.0.1, port: ${smtp.port}, starttls: false, from: "gw@example.net", to: "noc@example.net" }
retries: 8
`,
      { retryBaseMs: 100, retryCapMs: 300 },
    );
    agent.emit('tunnel-down', { ...A, why: 'no CHILD_SA installed', at: Date.now() });
    agent.emit('tunnel-repaired', { ...A, downMs: 900, at: Date.now() });

    await waitFor(async () => (await metricValue(metrics, 'ipsec_keepalive_alerts_failed_total{channel="slack"}')) >= 2, { what: 'refused slack attempts' });
    await late.start(latePort);
    await alerts.drained();

    assert.deepEqual(http.events('/flaky/'), ['tunnel-down', 'tunnel-repaired']);
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_failed_total{channel="webhook"}'), 2);
    assert.deepEqual(late.events('/services/'), [':red_circle: tunnel branch-a down: no CHILD_SA installed (gw-test)', ':large_green_circle: tunnel branch-a repaired after 900 ms down (gw-test)']);
    assert.deepEqual(
      smtp.mails.slice(mailsBefore).map((m) => m.subject.replace(/^\[ipsec-keepalive \w+\] gw-test: /, '')),
      ['tunnel branch-a down: no CHILD_SA installed', 'tunnel branch-a repaired after 900 ms down'],
    );
    assert.equal(await metricValue(metrics, 'ipsec_keepalive_alerts_failed_total{channel="email"}'), 2);
    for (const c of ['webhook', 'slack', 'email']) {
      assert.equal(await metricValue(metrics, `ipsec_keepalive_alerts_dropped_total{channel="${c}",reason="retries-exhausted"}`), 0, c);
    }
    await late.stop();
  });

  it('nothing logged carries the webhook token, its query secret or the SMTP password', async () => {
    // One more round of every failure kind, so each error path has logged something.
    const closed = new HttpReceiver();
    await closed.start();
    const closedPort = closed.port;
    await closed.stop();
    http.failNext = 1;
    const { agent, alerts } = start(`
webhook: { url: "${http.url(`/grep/${WEBHOOK_TOKEN}?key=${WEBHOOK_QUERY_SECRET}`)}" }
slack: { url: "http://127.0.0.1:${closedPort}/services/T2/B2/${SLACK_TOKEN}?x=${WEBHOOK_QUERY_SECRET}" }
email: { host: 127.0.0.1, port: ${smtpAuth.port}, starttls: false, user: "${SMTP_USER}", password: "${SMTP_PASSWORD}x", from: "gw@example.net", to: "noc@example.net" }
retries: 1
`);
    agent.emit('tunnel-down', { ...A, why: 'no CHILD_SA installed', at: Date.now() });
    await alerts.drained();

    assert.match(logged, /alert to webhook \(http:\/\/127\.0\.0\.1:\d+\) failed: HTTP 500/);
    assert.match(logged, /alert to slack \(http:\/\/127\.0\.0\.1:\d+\) dropped after 2 attempts: fetch failed: connect ECONNREFUSED/);
    assert.match(logged, /alert to email \(smtp:\/\/127\.0\.0\.1:\d+\) dropped after 2 attempts: .*535/);
    for (const secret of SECRETS) assert.ok(!logged.includes(secret), `the log contains ${secret}`);
    assert.ok(!logged.includes('/services/T2'), 'the log contains the Slack URL path');
  });
});
