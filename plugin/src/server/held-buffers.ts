// The bytes every connection of the listener holds for an incomplete message or frame, and
// their limit together: each connection holds at most one message's worth, and this bounds what
// many connections hold at once (whichever protocol they speak).

/** A connection as HeldBuffers sees it: the bytes it holds, and how to drop it. */
export interface HoldingConnection {
  /** Bytes of its incomplete message counted in HeldBuffers' total (HeldBuffers updates it). */
  heldBytes: number;
  /** Closes this connection only, saying why. */
  close(reason: string): void;
}

/** The bytes every connection holds for its incomplete message, and their limit together. */
export class HeldBuffers {
  /** Connections holding bytes now; Kong's, whose reads are whole messages, are never in it. */
  private readonly holders = new Set<HoldingConnection>();
  total = 0;

  constructor(private readonly limit: number) {}

  /** Records what `connection` holds now; over the limit, closes the largest holders. */
  update(connection: HoldingConnection, bytes: number): void {
    if (bytes === connection.heldBytes) return;
    this.set(connection, bytes);
    while (this.total > this.limit) {
      const largest = this.largest();
      if (largest === undefined) return;
      const held = largest.heldBytes;
      const total = this.total;
      this.set(largest, 0);
      largest.close(
        `holding ${held} bytes of an incomplete message while all connections held ${total}, more than the limit of ${this.limit}`,
      );
    }
  }

  release(connection: HoldingConnection): void {
    this.set(connection, 0);
  }

  private set(connection: HoldingConnection, bytes: number): void {
    this.total += bytes - connection.heldBytes;
    connection.heldBytes = bytes;
    if (bytes === 0) this.holders.delete(connection);
    else this.holders.add(connection);
  }

  private largest(): HoldingConnection | undefined {
    let found: HoldingConnection | undefined;
    for (const holder of this.holders) if (found === undefined || holder.heldBytes > found.heldBytes) found = holder;
    return found;
  }
}
