// Subscribed events travel from the socket reader to handlers through this bounded queue, so a slow handler
// never holds up command replies: the reader only appends; delivery runs in its own macrotasks. When the
// consumer falls more than `limit` events behind, the oldest are dropped and counted, and once the queue has
// drained the owner is told (the client emits 'resync': re-read state, events were lost).

export interface Delivery {
  name: string;
  payload: Buffer;
  payloadOffset: number;
}

export class DeliveryQueue {
  private items: (Delivery | undefined)[] = [];
  private head = 0;
  private running = false;
  private lostSinceDrain = false;
  private stopped = false;
  dropped = 0;

  constructor(
    private readonly limit: number,
    /** Delivers one event; a returned promise is awaited before the next (handlers may apply backpressure). */
    private readonly deliver: (d: Delivery) => void | Promise<void>,
    /** Called after the queue drained, when events were lost since the last drain. */
    private readonly onLossDrained: () => void,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(d: Delivery): void {
    if (this.stopped) return;
    if (this.length >= this.limit) {
      this.items[this.head++] = undefined;
      this.dropped++;
      this.lostSinceDrain = true;
    }
    this.items.push(d);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.run());
    }
  }

  /** An event was lost some other way (e.g. it did not decode): the drain will report it. */
  markLost(): void {
    this.lostSinceDrain = true;
  }

  stop(): void {
    this.stopped = true;
    this.items = [];
    this.head = 0;
  }

  private async run(): Promise<void> {
    let sliceStart = performance.now();
    let n = 0;
    while (this.head < this.items.length && !this.stopped) {
      const d = this.items[this.head]!;
      this.items[this.head++] = undefined;
      const r = this.deliver(d);
      if (r !== undefined) await r;
      // Synchronous handlers: yield every few ms so the socket (and command replies) get their turn.
      if (++n % 32 === 0 && performance.now() - sliceStart > 4) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      if (this.head > 4096 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
    }
    this.items = [];
    this.head = 0;
    this.running = false;
    if (this.lostSinceDrain && !this.stopped) {
      this.lostSinceDrain = false;
      this.onLossDrained();
    }
  }
}
