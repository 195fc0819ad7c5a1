// `status` when no agent answers: the tunnels as charon alone reports them.
//
// One unfiltered list-sas gives most tunnels at once. But charon silently discards any message over
// its 512 KiB limit, and one IKE_SA with enough CHILD_SAs makes a dump that size: the read completes
// and the IKE_SA is simply absent. So every tunnel whose CHILD_SA the dump did not show is
// read again on its own (list-sas filtered by IKE and CHILD name, a small answer). Only when that
// read fails too is the tunnel "unknown", with the reason; a missing answer never makes it "down".
import type { AgentConfig } from '../agent/config/load.js';
import { childConfigs, childConnMap, responderConns, tunnelIke } from '../agent/controller/conns.js';
import { observeTunnel } from '../agent/controller/observe.js';
import { statusDocument, type StatusDocument, type TunnelInput } from '../agent/observability/status.js';
import type { IkeSa, ViciClient } from '../vici/index.js';
import { errMessage } from '../error-message.js';

interface Wanted {
  name: string;
  child: string;
  ike: string | undefined;
  discovered: boolean;
  enabled: boolean;
}

export async function charonStatusDocument(vici: ViciClient, cfg: AgentConfig | undefined, uri: string, notes: string[], now: () => number = Date.now): Promise<StatusDocument> {
  let conns: Awaited<ReturnType<ViciClient['listConns']>> | undefined;
  try {
    conns = await vici.listConns();
  } catch (err) {
    notes.push(`list-conns failed (${errMessage(err)}): IKE names and missing configs unknown`);
  }
  const children = childConnMap(conns ?? []);
  const wanted: Wanted[] = (cfg?.tunnels ?? []).map((t) => ({ name: t.name, child: t.child, ike: tunnelIke(t, children.get(t.child)), discovered: false, enabled: t.enabled }));
  // Discovered tunnels, as the agent would manage them: every loaded child the file does not name
  // (also the whole of charon's config when there is no config file).
  const discovering = !cfg || cfg.discover || cfg.tunnels.length === 0;
  if (discovering) {
    const named = new Set(wanted.map((w) => w.child));
    for (const [child, info] of childConfigs(conns ?? [])) {
      // A responder (remote %any) only answers: the agent does not keep it, nor does this view.
      if (!named.has(child) && info.initiable) wanted.push({ name: child, child, ike: info.ike, discovered: Boolean(cfg), enabled: true });
    }
  }

  const all = await vici.listSas();
  const readAt = now();
  const seen = new Set<string>();
  for (const sa of all) for (const c of Object.values(sa['child-sas'] ?? {})) seen.add(c.name);
  let recovered = 0;
  const inputs: TunnelInput[] = [];
  for (const w of wanted) {
    let sas: readonly IkeSa[] = all;
    let observedAt = readAt;
    let unreadable: string | undefined;
    if (!seen.has(w.child)) {
      try {
        sas = await vici.listSas(w.ike ? { ike: w.ike, child: w.child } : { child: w.child });
        observedAt = now();
      } catch (err) {
        unreadable = `charon's answer did not arrive (${errMessage(err)})`;
      }
    }
    const t: TunnelInput = {
      ...w,
      obs: unreadable === undefined ? observeTunnel(sas, w.child, w.ike) : undefined,
      observedAt,
      configLoaded: conns ? children.has(w.child) : undefined,
    };
    if (unreadable !== undefined) t.unreadable = unreadable;
    else if (!seen.has(w.child) && (t.obs?.up.length ?? 0) > 0) recovered++;
    inputs.push(t);
  }
  if (recovered > 0) {
    notes.push(`${recovered} tunnels were missing from charon's full list-sas (an IKE_SA's answer over its 512 KiB message limit is discarded) and were read one by one`);
  }
  return statusDocument('charon', inputs, now(), { agent: null, charon: { vici_socket: uri, notes } }, discovering ? responderConns(conns ?? []) : []);
}
