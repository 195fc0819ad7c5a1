// Synthetic but charon-shaped VICI messages for benchmarks and property tests: a list-sa event with N
// CHILD_SAs carries the keys charon 5.9.8 writes (vici_query.c list_ike/list_child), so its size per child
// (~400 bytes) matches what the lab measures.
import { encodePacket } from '../src/vici/packet.js';
import { PacketType } from '../src/vici/constants.js';

export function childSa(i: number): Record<string, unknown> {
  return {
    name: `scale-${String(i).padStart(4, '0')}`,
    uniqueid: String(1000 + i),
    reqid: String(i),
    state: 'INSTALLED',
    mode: 'TUNNEL',
    protocol: 'ESP',
    encap: 'yes',
    'spi-in': (0xc0000000 + i).toString(16),
    'spi-out': (0xc8000000 + i).toString(16),
    'encr-alg': 'AES_CBC',
    'encr-keysize': '256',
    'integ-alg': 'HMAC_SHA2_256_128',
    'bytes-in': String(i * 1234),
    'packets-in': String(i * 7),
    'use-in': '3',
    'bytes-out': String(i * 4321),
    'packets-out': String(i * 9),
    'use-out': '2',
    'rekey-time': '3185',
    'life-time': '3545',
    'install-time': '55',
    'local-ts': ['10.1.0.1/32'],
    'remote-ts': [`10.200.${i >> 8}.${i & 255}/32`],
  };
}

export function ikeSa(name: string, id: number, children: number): Record<string, unknown> {
  const kids: Record<string, unknown> = {};
  for (let i = 1; i <= children; i++) {
    const c = childSa(i);
    kids[`${c.name as string}-${c.uniqueid as string}`] = c;
  }
  return {
    [name]: {
      uniqueid: String(id),
      version: '2',
      state: 'ESTABLISHED',
      'local-host': '192.0.2.1',
      'local-port': '4500',
      'local-id': '192.0.2.1',
      'remote-host': '192.0.2.2',
      'remote-port': '4500',
      'remote-id': '192.0.2.2',
      initiator: 'yes',
      'initiator-spi': '8a7b6c5d4e3f2a1b',
      'responder-spi': '1b2a3f4e5d6c7b8a',
      'nat-remote': 'yes',
      'nat-any': 'yes',
      'encr-alg': 'AES_CBC',
      'encr-keysize': '256',
      'integ-alg': 'HMAC_SHA2_256_128',
      'prf-alg': 'PRF_HMAC_SHA2_256',
      'dh-group': 'MODP_2048',
      established: '120',
      'rekey-time': '13000',
      'tasks-queued': [],
      'child-sas': kids,
    },
  };
}

/** A whole list-sa EVENT frame (length prefix included). */
export function listSaFrame(children: number, name = 'ikev2-vpn', id = 1): Buffer {
  return encodePacket(PacketType.EVENT, 'list-sa', ikeSa(name, id, children));
}

/**
 * `variants` list-sa EVENT frames like listSaFrame(children), whose CHILD_SAs are keyed by other names in
 * each: decoding them in turn, no CHILD_SA name repeats from the frame before.
 */
export function renamedListSaFrames(children: number, variants: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let v = 0; v < variants; v++) {
    const msg = ikeSa('ikev2-vpn', 1, children) as Record<string, Record<string, unknown>>;
    const ike = msg['ikev2-vpn']!;
    const kids: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(ike['child-sas'] as Record<string, unknown>)) kids[`${name}-v${v}`] = child;
    ike['child-sas'] = kids;
    frames.push(encodePacket(PacketType.EVENT, 'list-sa', msg));
  }
  return frames;
}
