// The HTTP endpoint Prometheus scrapes: /metrics, /healthz and the agent's /status, and at / a page
// that links them (as node_exporter's does), for whoever opens the address in a browser.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Body of /healthz: the process is alive and serving; charon's state is in /metrics. */
  health(): Record<string, unknown>;
  /** Body of /status (the operator's view, JSON). */
  status?(): unknown;
  /** Shown on the landing page. */
  version?: string;
  /** A page failed to render (a bug): reported, answered with 500. */
  onError?(err: unknown): void;
}

export interface MetricsServer {
  /** host:port actually bound (the port is the kernel's choice when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  ENOTFOUND: 'host name not found',
};

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => void handle(opts, req, res));
  // A scraper that stalls must not hold sockets forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
      reject(new Error(`metrics: cannot listen on ${formatAddress(opts.host, opts.port)}: ${why}`));
    };
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  const address = bound && typeof bound === 'object' ? formatAddress(bound.address, bound.port) : formatAddress(opts.host, opts.port);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(opts: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const send = (status: number, type: string, body: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (path !== '/' && path !== '/metrics' && path !== '/healthz' && !(path === '/status' && opts.status)) {
    send(404, 'text/plain; charset=utf-8', 'not found: this endpoint serves /, /metrics, /status and /healthz\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  // A bug in rendering any page is answered with 500 and reported; it must never reach the agent.
  try {
    if (path === '/') send(200, 'text/html; charset=utf-8', landingPage(opts.version));
    else if (path === '/healthz') send(200, 'application/json', `${JSON.stringify({ status: 'ok', ...opts.health() })}\n`);
    else if (path === '/status' && opts.status) send(200, 'application/json', `${JSON.stringify(opts.status())}\n`);
    else send(200, opts.registry.contentType, await opts.registry.metrics());
  } catch (err) {
    opts.onError?.(err);
    send(500, 'text/plain; charset=utf-8', `${path} could not be rendered\n`);
  }
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The page at /: the agent's name and version, and where its endpoints are. */
export function landingPage(version: string | undefined): string {
  const title = `ipsec-keepalive${version ? ` ${version.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)}` : ''}`;
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title></head>
<body>
<h1>${title}</h1>
<p>Keeps strongSwan IPsec tunnels up over VICI.</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="status">/status</a>: the tunnels' state</li>
<li><a href="healthz">/healthz</a>: liveness</li>
</ul>
</body>
</html>
`;
}
