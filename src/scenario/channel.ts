import type { Scenario } from "./schema.js";

/**
 * Why a resolver's threads cannot share one socket for their queries: each has its own by the
 * resolver's source. Only c-ares keeps its sockets in an object the threads of a process can share.
 */
const OWN_SOCKETS: Record<Exclude<Scenario["pods"][number]["libc"], "c-ares">, string> = {
  glibc: "glibc's resolver state is per thread (__res_state() returns the thread's _res, resolv/res-state.c) and res_send opens its sockets in it (send_dg)",
  musl: "musl opens a socket for each exchange and closes it at its end (__res_msend_rc, src/network/res_msend.c)",
  go: "Go dials a connection of its own for each query (Resolver.exchange, net/dnsclient_unix.go)",
  busybox: "busybox nslookup is a process per lookup and opens its own socket (send_queries, networking/nslookup.c)",
};

/** What is wrong with pods[i].share_channel (c-ares only, and only where the threads are those of one process), or null. */
export function shareChannelProblem(pod: Scenario["pods"][number]): string | null {
  if (pod.share_channel === undefined) return null;
  if (pod.libc !== "c-ares") {
    return `applies to libc: c-ares only, whose threads can share one ares channel and so one UDP socket; this pod has libc: ${pod.libc}, where every thread has its own: ${OWN_SOCKETS[pod.libc]}.`;
  }
  if (pod.share_channel && pod.lookups_per_process !== undefined) {
    return `threads share a channel within one process, but lookups_per_process makes each thread a process of its own; remove one of the two.`;
  }
  return null;
}
