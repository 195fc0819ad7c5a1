// A webhook receiver inside the lab's left namespace (where the agent runs): a real HTTP server that
// appends each request's JSON body as one line to a file, for tests that count the alerts an agent sent.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Lab } from './lab.js';

const SERVER = `
const http = require('http'); const fs = require('fs');
const out = process.argv[1];
const s = http.createServer((req, res) => { let b = ''; req.on('data', d => b += d); req.on('end', () => {
  fs.appendFileSync(out, JSON.stringify({ path: req.url, body: JSON.parse(b) }) + '\\n'); res.end('ok'); }); });
s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
`;

export interface WebhookReceiver {
  /** The URL to give the agent, with `path` (a token in the path is a secret the agent must not log). */
  url(path?: string): string;
  /** What arrived so far, in order. */
  received(): Array<{ path: string; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(lab: Lab, file: string): Promise<WebhookReceiver> {
  const proc: ChildProcess = lab.spawnIn('left', [process.execPath, '-e', SERVER, file]);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`webhook receiver exited with ${code}`)));
  });
  return {
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    received: () =>
      existsSync(file)
        ? readFileSync(file, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { path: string; body: Record<string, unknown> })
        : [],
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
