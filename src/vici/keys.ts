// The key names charon writes, as a constant table the decoder looks keys up in before it decodes them.
//
// Why: a key decoded from bytes is a new string, and storing a property under a new string makes V8 look it
// up in its string table first (property names are kept there, one copy each); a string literal from this
// file is already that copy. charon repeats the same few dozen keys in every IKE_SA and CHILD_SA of a
// list-sa, so most keys of a large message come from here at the cost of a few byte compares.
//
// The table is built once, when the module loads, from the fixed list below and is frozen: nothing a message
// holds can add to it or change it, and a key that is not here is simply decoded (section names such as
// IKE_SA, CHILD_SA and connection names never are). The list is what strongSwan's vici plugin writes
// (vici_query.c, vici_logger.c, vici_control.c) for the commands and events this agent uses; a key missing
// from it costs speed, never correctness.

const CHARON_KEYS: readonly string[] = Object.freeze([
  // list-sa: IKE_SA
  'uniqueid', 'version', 'state', 'local-host', 'local-port', 'local-id', 'remote-host', 'remote-port',
  'remote-id', 'remote-xauth-id', 'remote-eap-id', 'initiator', 'initiator-spi', 'responder-spi', 'nat-local',
  'nat-remote', 'nat-fake', 'nat-any', 'if-id-in', 'if-id-out', 'encr-alg', 'encr-keysize', 'integ-alg',
  'integ-keysize', 'prf-alg', 'dh-group', 'ke', 'ppk', 'established', 'rekey-time', 'reauth-time', 'local-vips',
  'remote-vips', 'tasks-queued', 'tasks-active', 'tasks-passive', 'child-sas',
  // list-sa: CHILD_SA
  'name', 'reqid', 'mode', 'protocol', 'encap', 'spi-in', 'spi-out', 'cpi-in', 'cpi-out', 'mark-in',
  'mark-mask-in', 'mark-out', 'mark-mask-out', 'label', 'per-cpu-sas', 'cpu', 'esn', 'bytes-in', 'packets-in',
  'use-in', 'bytes-out', 'packets-out', 'use-out', 'life-time', 'install-time', 'local-ts', 'remote-ts',
  // list-conn
  'local_addrs', 'remote_addrs', 'local_port', 'remote_port', 'reauth_time', 'rekey_time', 'unique',
  'dpd_delay', 'dpd_timeout', 'ppk_id', 'ppk_required', 'local-1', 'remote-1', 'local-2', 'remote-2', 'class',
  'eap-type', 'eap-vendor', 'xauth', 'revocation', 'id', 'aaa_id', 'eap_id', 'xauth_id', 'groups',
  'cert_policy', 'certs', 'cacerts', 'children', 'rekey_bytes', 'rekey_packets', 'dpd_action', 'close_action',
  'interface', 'priority',
  // events: ike-updown, child-updown, ike-rekey, child-rekey, log, alert
  'up', 'old', 'new', 'group', 'level', 'thread', 'ikesa-name', 'ikesa-uniqueid', 'msg', 'type',
  // stats, version, command replies
  'uptime', 'running', 'since', 'workers', 'total', 'idle', 'active', 'queues', 'critical', 'high', 'medium',
  'low', 'scheduled', 'ikesas', 'half-open', 'plugins', 'mem', 'allocs', 'mallinfo', 'sbrk', 'mmap', 'used',
  'free', 'daemon', 'sysname', 'release', 'machine', 'success', 'errmsg', 'matches', 'terminated',
]);

/** Slots of the open-addressing table: a power of two, several times the number of keys (short probes). */
const SLOTS = 1024;

/** Where a key of `len` bytes starting `first`, with `middle` at len/2 and ending `last`, is looked for first. */
function home(len: number, first: number, middle: number, last: number): number {
  return (Math.imul(len * 131 + first, 0x9e3779b1) ^ Math.imul(middle * 257 + last, 0x85ebca6b)) >>> 22;
}

function build(keys: readonly string[]): readonly (string | undefined)[] {
  const table = new Array<string | undefined>(SLOTS).fill(undefined);
  for (const key of keys) {
    let slot = home(key.length, key.charCodeAt(0), key.charCodeAt(key.length >> 1), key.charCodeAt(key.length - 1));
    while (table[slot] !== undefined && table[slot] !== key) slot = (slot + 1) & (SLOTS - 1);
    table[slot] = key;
  }
  return Object.freeze(table);
}

const TABLE = build(CHARON_KEYS);

/** The known key whose bytes are the `len` at `start` of `buf`, or undefined: decode it. */
export function knownKey(buf: Uint8Array, start: number, len: number): string | undefined {
  if (len === 0) return undefined;
  let slot = home(len, buf[start]!, buf[start + (len >> 1)]!, buf[start + len - 1]!);
  for (;;) {
    const key = TABLE[slot];
    if (key === undefined) return undefined;
    if (key.length === len) {
      let k = 0;
      while (k < len && key.charCodeAt(k) === buf[start + k]) k++;
      if (k === len) return key;
    }
    slot = (slot + 1) & (SLOTS - 1);
  }
}
