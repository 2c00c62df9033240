import type { Dist } from "../engine/dist.js";

/** A kube-dns (CoreDNS) pod behind the Service: where it is and how fast it answers. */
export interface Endpoint {
  index: number;
  /** Address id (net/addr.ts). */
  addr: number;
  /** Round trip between the client node and this endpoint (each way is half). */
  rttNs: Dist;
  /** Time from a query's arrival to its answer leaving (cache hit or kubernetes plugin). */
  serviceNs: Dist;
  queries: number;
}
