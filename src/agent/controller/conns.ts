// charon's list-conns answer as the agent and the CLI read it: which IKE connection holds each
// CHILD_SA config, and what charon does by itself for it. The one place that walks list-conns'
// children and the one answer to "which IKE connection is this tunnel's".
import type { Conn } from '../../vici/index.js';

/** What charon does by itself for a CHILD_SA config, from list-conns. */
export interface ChildConnInfo {
  ike: string;
  closeAction?: string;
  dpdAction?: string;
  startAction?: string;
}

/** Every CHILD_SA config of a list-conns answer in charon's order; a child name two connections share appears twice. */
export function childConfigs(conns: readonly Conn[]): Array<[child: string, info: ChildConnInfo]> {
  const out: Array<[string, ChildConnInfo]> = [];
  for (const conn of conns) {
    for (const [child, c] of Object.entries(conn.children ?? {})) {
      const info: ChildConnInfo = { ike: conn.name };
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
