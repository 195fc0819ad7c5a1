// The config source: charon's loaded connections (list-conns), read on the schedule conns-watch.ts
// decides (every (re)connect and reload, again until the answer settles, then every conns_refresh), and
// what an operator should know of them said once. It decides nothing about tunnels: each applied read
// goes to the Agent, which turns it into the desired set and queues what changed.
import type { Logger } from 'pino';
import type { Conn, ViciClient } from '../../vici/index.js';
import type { AgentConfig } from '../config/load.js';
import { closest } from '../../suggest.js';
import { childConnMap, responderConns, type ChildConnInfo, type ResponderConn } from './conns.js';
import { connsKey, connsStep, settleConns, type ConnsWatch } from './conns-watch.js';
import { errMessage } from '../../error-message.js';

/** One answer of list-conns: the connections, their children by name, and the key to compare reads by. */
interface ConnsRead {
  answer: Conn[];
  map: Map<string, ChildConnInfo>;
  key: string;
}

/** An applied read, for the Agent. */
export interface ConnsUpdate {
  /** The children charon had before this read; undefined when no read had been applied yet. */
  before: ReadonlyMap<string, ChildConnInfo> | undefined;
  /** The answer differs from the last one, or settled just now: the desired set may have changed. */
  changed: boolean;
  /** Discovered tunnels this answer lacks may be forgotten: it has settled, and it is not empty. */
  forget: boolean;
  /** It came with charon's restart (since the last reconnect, until the answer settled). */
  afterReconnect: boolean;
}

export interface ConnsSourceDeps {
  vici: ViciClient;
  log: Logger;
  config(): AgentConfig;
  /** A refresh read was applied (resync's own read is returned to its caller instead). */
  refreshed(u: ConnsUpdate): void;
}

export class ConnsSource {
  /** child config name -> connection info, from the last applied read. */
  conns = new Map<string, ChildConnInfo>();
  /** A read has been applied: a child missing from `conns` is really not loaded. */
  known = false;
  /** Loaded connections charon cannot initiate, but for those the file names a child of. */
  responders: ResponderConn[] = [];
  private readonly respondersSaid = new Set<string>();
  private readonly missingSaid = new Set<string>();
  private watch: ConnsWatch = settleConns(undefined, 0);
  private timer?: NodeJS.Timeout;
  /** Each resync starts a new chain; reads of an older one are not applied. */
  private chain = 0;
  private afterReconnect = false;
  private stopped = false;

  constructor(private readonly d: ConnsSourceDeps) {}

  /** A reload: whatever was said about missing configs may be said again. */
  reloaded(): void {
    this.missingSaid.clear();
  }

  /** Whether the agent may forget discovered tunnels the current view lacks (a reload between reads). */
  get settledView(): boolean {
    return !this.watch.settling && this.conns.size > 0;
  }

  /**
   * Start-up, reconnect, reload: read now and settle (strongswan.service loads its configs after charon's
   * socket appears). Undefined when a newer resync superseded this one while it read: that one applies.
   */
  async resync(reconnected: boolean): Promise<ConnsUpdate | undefined> {
    const chain = ++this.chain;
    this.watch = settleConns(this.watch, Date.now());
    if (reconnected) this.afterReconnect = true;
    const before = this.known ? this.conns : undefined;
    const read = await this.read('warn');
    if (this.stopped || chain !== this.chain) return undefined;
    const step = connsStep(this.watch, read?.key, Date.now(), this.d.config().connsRefreshMs);
    this.watch = step.watch;
    if (read) this.apply(read, step.settled);
    this.schedule(chain, step.delayMs);
    return { before, changed: true, forget: mayForget(read, step.settled), afterReconnect: this.afterReconnect };
  }

  /** The VICI connection was lost: no reads until the resync after the reconnect. */
  lost(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.lost();
  }

  private schedule(chain: number, delayMs: number | undefined): void {
    // Only the newest chain owns the timer: an older one must not clear what a newer resync scheduled.
    if (chain !== this.chain) return;
    this.lost();
    if (delayMs === undefined || this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(chain), delayMs);
    this.timer.unref();
  }

  private async refresh(chain: number): Promise<void> {
    if (this.stopped || chain !== this.chain) return;
    if (!this.d.vici.connected) return; // the resync after the reconnect starts the source again
    const before = this.known ? this.conns : undefined;
    const read = await this.read('debug');
    if (this.stopped || chain !== this.chain) return;
    const wasSettling = this.watch.settling;
    const step = connsStep(this.watch, read?.key, Date.now(), this.d.config().connsRefreshMs);
    this.watch = step.watch;
    if (read) {
      this.apply(read, step.settled);
      this.d.refreshed({ before, changed: step.changed || (wasSettling && step.settled), forget: mayForget(read, step.settled), afterReconnect: this.afterReconnect });
    }
    if (step.settled) this.afterReconnect = false;
    this.schedule(chain, step.delayMs);
  }

  /** One read of list-conns, applied to nothing yet; undefined when it failed (said in the log). */
  private async read(level: 'warn' | 'debug'): Promise<ConnsRead | undefined> {
    try {
      const answer = await this.d.vici.listConns();
      const map = childConnMap(answer);
      return { answer, map, key: connsKey(map) };
    } catch (err) {
      this.d.log[level]({ err: errMessage(err) }, level === 'warn' ? 'list-conns failed; reconciling with the configured names' : 'list-conns failed; read again later');
      return undefined;
    }
  }

  /**
   * A read becomes the agent's view of charon's configs, and what an operator should know of it is said
   * once: a configured tunnel charon has no config for, a responder discover leaves alone. An empty
   * answer that has not settled is charon still loading (after its restart): nothing to say of it yet.
   */
  private apply(read: ConnsRead, settled: boolean): void {
    const config = this.d.config();
    this.conns = read.map;
    this.known = true;
    const configured = new Set(config.tunnels.map((t) => t.child));
    // A responder connection whose child the file names is kept: the operator asked for it.
    this.responders = responderConns(read.answer).filter((r) => !r.children.some((c) => configured.has(c)));
    if (!settled && read.map.size === 0) return;
    if (config.discover) {
      if (settled) {
        const names = new Set(this.responders.map((r) => r.ike));
        for (const ike of this.respondersSaid) if (!names.has(ike)) this.respondersSaid.delete(ike);
      }
      for (const r of this.responders) {
        if (this.respondersSaid.has(r.ike)) continue;
        this.respondersSaid.add(r.ike);
        const remote = r.remoteAddrs.join(',') || '%any';
        this.d.log.info({ ike: r.ike, children: r.children, remoteAddrs: r.remoteAddrs }, `connection ${r.ike} only answers (remote ${remote}): a responder, not kept alive`);
      }
    }
    for (const t of config.tunnels) {
      if (read.map.has(t.child) || !t.enabled) this.missingSaid.delete(t.child);
      else if (!this.missingSaid.has(t.child)) {
        // Said once per missing config (again after it was there, or after a reload), not on every re-read.
        this.missingSaid.add(t.child);
        const like = closest(t.child, [...read.map.keys()]);
        this.d.log.warn(
          { tunnel: t.name, child: t.child, ...(like ? { didYouMean: like } : {}) },
          `tunnel ${t.name}: charon has no CHILD_SA config named ${JSON.stringify(t.child)}${like ? ` (did you mean ${JSON.stringify(like)}?)` : ''}; not-loaded, repaired as soon as charon loads it`,
        );
      }
    }
  }
}

/** Whether a read may forget discovered tunnels it lacks: settled, and not empty (charon with no configs at all is one still loading them). */
function mayForget(read: ConnsRead | undefined, settled: boolean): boolean {
  return settled && read !== undefined && read.map.size > 0;
}
