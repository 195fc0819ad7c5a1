// Transport layer: a 32-bit big-endian length, then that many bytes of packet.
// The decoder is incremental (fed whatever the socket hands over, one byte at a time included) and checks the
// announced length against the limit before it allocates anything for the frame.
import { VICI_MESSAGE_SIZE_MAX } from './constants.js';
import { ViciFrameTooLargeError } from './errors.js';

export class FrameDecoder {
  private readonly header = Buffer.alloc(4);
  private headerLen = 0;
  /** The frame being assembled across chunks, allocated once its length is known and checked. */
  private body: Buffer | undefined;
  private filled = 0;
  private failure: ViciFrameTooLargeError | undefined;

  constructor(readonly maxLength = VICI_MESSAGE_SIZE_MAX) {}

  /** Bytes held for an unfinished frame (header included). */
  get buffered(): number {
    return this.body ? 4 + this.filled : this.headerLen;
  }

  /**
   * Consumes `chunk`, calling `onFrame` with each completed frame's packet bytes in order. A frame that lies
   * whole inside `chunk` is handed over as a view of it (no copy). Throws ViciFrameTooLargeError for an
   * over-long frame, and again on every later call: the byte stream has no way to find the next frame.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    if (this.failure) throw this.failure;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.body === undefined) {
        let len: number;
        if (this.headerLen === 0 && n - i >= 4) {
          len = chunk.readUInt32BE(i);
          i += 4;
        } else {
          while (this.headerLen < 4 && i < n) this.header[this.headerLen++] = chunk[i++]!;
          if (this.headerLen < 4) return;
          len = this.header.readUInt32BE(0);
        }
        this.headerLen = 0;
        if (len > this.maxLength) {
          this.failure = new ViciFrameTooLargeError(len, this.maxLength);
          throw this.failure;
        }
        if (n - i >= len) {
          const frame = chunk.subarray(i, i + len);
          i += len;
          onFrame(frame);
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.filled = 0;
      }
      const take = Math.min(this.body.length - this.filled, n - i);
      chunk.copy(this.body, this.filled, i, i + take);
      this.filled += take;
      i += take;
      if (this.filled === this.body.length) {
        const frame = this.body;
        this.body = undefined;
        onFrame(frame);
      }
    }
  }
}

/** The length prefix for a packet of `length` bytes. */
export function frameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(length, 0);
  return h;
}
