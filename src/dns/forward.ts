/**
 * CoreDNS's `forward` plugin (coredns/coredns plugin/forward/forward.go ServeDNS,
 * plugin/pkg/proxy/connect.go lookupDNS) for one query: attempts on upstreams
 * until one answers, the per-request deadline passes or the attempts run out;
 * then the server answers SERVFAIL (the plugin returns dns.RcodeServerFailure,
 * and core/dnsserver's ServeDNS writes it since plugin.ClientWrite is false:
 * the cache never sees it).
 */

export interface ForwardConfig {
  /** The upstreams (`forward . /etc/resolv.conf`: the nameservers of the CoreDNS pod's resolv.conf, the node's with dnsPolicy Default). */
  upstreams: number;
  /** `read_timeout`: how long one attempt waits for its answer (proxy.readTimeout, default 2 s: defaultReadTimeout). */
  readTimeoutNs: number;
  /**
   * `max_connect_attempts`: attempts per request. null: the default of 1.14.7 and later, two per
   * upstream (0fa6c6679, defaultConnectAttemptsPerUpstream); 0: no cap (every release before,
   * and `max_connect_attempts 0`): attempts go on until the 5 s deadline.
   */
  maxConnectAttempts: number | null;
  /** `max_concurrent`: queries being forwarded at once above this are answered REFUSED; 0: no limit. */
  maxConcurrent: number;
}

/** forward.go: defaultTimeout, the per-request deadline. */
export const FORWARD_DEADLINE_NS = 5_000_000_000;
/** forward.go: defaultReadTimeout. */
export const FORWARD_READ_TIMEOUT_NS = 2_000_000_000;

/** The outcome of forwarding one query. */
export interface Forwarded {
  /** Time from the forward to the answer (or to giving up). */
  delayNs: number;
  /** Whether an upstream answered (false: the server answers SERVFAIL). */
  answered: boolean;
  attempts: number;
}

/**
 * Plays ServeDNS's loop: `for time.Now().Before(deadline) && connectAttempts < max`, one
 * upstream after the other (every attempt to an upstream as good as any other here: the model
 * has one upstream delay). `attempt()` draws one attempt's upstream delay, or null when the
 * upstream never answers it. An attempt whose answer would come after the read deadline fails
 * at that deadline (ReadMsg's timeout: the connection is closed, a late answer is lost).
 */
export function forwardQuery(cfg: ForwardConfig, attempt: () => number | null): Forwarded {
  const cap = cfg.maxConnectAttempts === null ? 2 * cfg.upstreams : cfg.maxConnectAttempts;
  let t = 0;
  let attempts = 0;
  while (t < FORWARD_DEADLINE_NS && (cap === 0 || attempts < cap)) {
    attempts++;
    const d = attempt();
    if (d !== null && d <= cfg.readTimeoutNs) return { delayNs: t + d, answered: true, attempts };
    t += cfg.readTimeoutNs;
  }
  return { delayNs: t, answered: false, attempts };
}
