// charon's list-conns answer as the agent and the CLI read it: which IKE connection holds each
// CHILD_SA config, and what charon does by itself for it. The one place that walks list-conns'
// children and the one answer to "which IKE connection is this tunnel's".
import { isIP } from 'node:net';
import type { Conn } from '../../vici/index.js';

/** What charon does by itself for a CHILD_SA config, from list-conns. */
export interface ChildConnInfo {
  ike: string;
  /** charon can start this connection: its remote address names one peer (not %any, a subnet or a range). */
  initiable: boolean;
  /** The connection's remote_addrs as charon lists them. */
  remoteAddrs: string[];
  closeAction?: string;
  dpdAction?: string;
  startAction?: string;
}

/** Every CHILD_SA config of a list-conns answer in charon's order; a child name two connections share appears twice. */
export function childConfigs(conns: readonly Conn[]): Array<[child: string, info: ChildConnInfo]> {
  const out: Array<[string, ChildConnInfo]> = [];
  for (const conn of conns) {
    const remoteAddrs = remoteAddrsOf(conn);
    const canInitiate = initiable(remoteAddrs);
    for (const [child, c] of Object.entries(conn.children ?? {})) {
      const info: ChildConnInfo = { ike: conn.name, initiable: canInitiate, remoteAddrs };
      if (typeof c['close_action'] === 'string') info.closeAction = c['close_action'];
      if (typeof c['dpd_action'] === 'string') info.dpdAction = c['dpd_action'];
      if (typeof c['start_action'] === 'string') info.startAction = c['start_action'];
      out.push([child, info]);
    }
  }
  return out;
}

/** child config name -> the IKE connection holding it (the last one, should two share the name), from list-conns. */
export function childConnMap(conns: readonly Conn[]): Map<string, ChildConnInfo> {
  return new Map(childConfigs(conns));
}

/**
 * Which IKE connection holds the tunnel's child: the one its config names, else the one list-conns
 * shows the child in (`conn`, from childConnMap); undefined when neither says.
 */
export function tunnelIke(config: { readonly ike?: string | undefined }, conn: { readonly ike: string } | undefined): string | undefined {
  return config.ike ?? conn?.ike;
}

function remoteAddrsOf(conn: Conn): string[] {
  const v = conn['remote_addrs'];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

/** One remote_addrs entry that names a single peer: an address or a DNS name, not %any, a subnet or a range. */
function onePeer(addr: string): boolean {
  const a = addr.trim();
  if (a === '' || a.startsWith('%') || a.includes('/')) return false;
  const dash = a.indexOf('-');
  // "10.0.0.1-10.0.0.9" is a range; a DNS name may hold dashes too.
  if (dash > 0 && isIP(a.slice(0, dash)) !== 0 && isIP(a.slice(dash + 1)) !== 0) return false;
  return true;
}

/**
 * Whether charon can initiate a connection with these remote addresses: at least one names a single
 * peer. A road-warrior responder (`remote_addrs = %any`, a subnet, a range) only answers; an initiate
 * fails with "unable to resolve %any". charon lists no remote_addrs as %any.
 */
export function initiable(remoteAddrs: readonly string[]): boolean {
  return remoteAddrs.some(onePeer);
}

/** A loaded connection the agent does not keep because charon cannot initiate it. */
export interface ResponderConn {
  ike: string;
  children: string[];
  remoteAddrs: string[];
}

/** The connections of a list-conns answer that only answer, in charon's order. */
export function responderConns(conns: readonly Conn[]): ResponderConn[] {
  return conns
    .map((conn) => ({ ike: conn.name, children: Object.keys(conn.children ?? {}), remoteAddrs: remoteAddrsOf(conn) }))
    .filter((c) => !initiable(c.remoteAddrs));
}
