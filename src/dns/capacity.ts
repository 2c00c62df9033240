/**
 * A CoreDNS replica's capacity (kube_dns.capacity): it processes at most `qps`
 * queries per second, one after the other in arrival order, and queries that
 * find `queue` others waiting are dropped. The queue stands for the UDP
 * socket's receive buffer: CoreDNS reads its socket in a loop and serves each
 * query in a goroutine, and when it falls behind the kernel queues the
 * datagrams in the socket until sk_rcvbuf is full, then drops them
 * (__udp_enqueue_schedule_skb: UDP_MIB_RCVBUFERRORS). Both numbers are
 * assumed (a replica's rate depends on its CPU limit and its plugins).
 */
export interface CapacityConfig {
  qps: number;
  queue: number;
}

export class ReplicaQueue {
  readonly stats = { admitted: 0, dropped: 0, maxWaiting: 0 };
  private readonly perQueryNs: number;
  /** When the replica is free to start the next query. */
  private freeAt = 0;
  /** Start times of the admitted queries not yet started (a ring kept in order). */
  private readonly starts: number[] = [];
  private head = 0;

  constructor(readonly cfg: CapacityConfig) {
    this.perQueryNs = 1e9 / cfg.qps;
  }

  /**
   * A query arrives now: when the replica starts on it, or -1 if it is dropped. A query over TCP
   * (`stream`) is never dropped: it waits in its connection, which TCP's flow control holds back.
   */
  admit(now: number, stream = false): number {
    // Queries whose processing has started have left the queue.
    while (this.head < this.starts.length && this.starts[this.head]! <= now) this.head++;
    if (this.head > 1024 && this.head * 2 > this.starts.length) {
      this.starts.splice(0, this.head);
      this.head = 0;
    }
    const waiting = this.starts.length - this.head;
    const start = Math.max(now, this.freeAt);
    // A query the replica can start at once takes no place in the queue.
    if (start > now && waiting >= this.cfg.queue && !stream) {
      this.stats.dropped++;
      return -1;
    }
    this.freeAt = start + this.perQueryNs;
    if (start > now) {
      this.starts.push(start);
      if (waiting + 1 > this.stats.maxWaiting) this.stats.maxWaiting = waiting + 1;
    }
    this.stats.admitted++;
    return Math.round(start);
  }

  /** Queries waiting at time now. */
  waiting(now: number): number {
    let n = 0;
    for (let i = this.head; i < this.starts.length; i++) if (this.starts[i]! > now) n++;
    return n;
  }
}
