// cursor.js: where the page stands in a session's output, so that a reconnect resumes with
// no gap and no duplicate (docs/browser.md, "Offsets").
//
// `next` is the offset of the first byte the page has not taken yet: a reconnect asks
// control for `since=next`. OUTPUT frames are offset-addressed; whatever lies below `next`
// was already taken and is cut off. Bytes below `liveFrom` (the session's end when this
// connection's HELLO came) are replay: the terminal must not answer queries in them.

export class OutputCursor {
  constructor() {
    this.next = 0;          // first offset not yet taken
    this.liveFrom = 0;      // bytes below this offset are replay on this connection
    this.skipped = 0;       // bytes control could no longer send (resync events)
    this.duplicates = 0;    // bytes received twice and dropped (should stay 0)
    this.gaps = 0;          // bytes missing without a resync (should stay 0)
  }

  // A new connection's HELLO: everything up to `hello.bytes` is replay.
  attach(hello) {
    this.liveFrom = Math.max(Number(hello.bytes) || 0, this.next);
  }

  // True while the connection is still sending what existed when it was made.
  get catchingUp() {
    return this.next < this.liveFrom;
  }

  // Takes an OUTPUT frame. Returns the parts to render, in order, each {data, replay}.
  take(offset, data) {
    const parts = [];
    const end = offset + data.length;
    if (end <= this.next) {
      this.duplicates += data.length;
      return parts;
    }
    if (offset < this.next) {
      this.duplicates += this.next - offset;
      data = data.subarray(this.next - offset);
      offset = this.next;
    } else if (offset > this.next) {
      this.gaps += offset - this.next;
    }
    if (offset < this.liveFrom) {
      const n = Math.min(data.length, this.liveFrom - offset);
      parts.push({ data: data.subarray(0, n), replay: true });
      data = data.subarray(n);
    }
    if (data.length) parts.push({ data, replay: false });
    this.next = end;
    return parts;
  }

  // A resync event: control skipped `skipped` bytes and continues at `offset`.
  resync(ev) {
    const offset = Number(ev.offset) || 0;
    if (offset > this.next) {
      this.skipped += offset - this.next;
      this.next = offset;
    }
  }

  // True when every byte of the session from offset 0 on passed through here, in order:
  // only then can the page check the EXIT frame's SHA-256.
  get complete() {
    return this.skipped === 0 && this.gaps === 0;
  }
}
