import type { DnsMessage } from "../net/packet.js";
import type { TcpConn } from "../resolver/host.js";

/**
 * A TCP connection as the model needs it: the handshake's SYN goes through the
 * conntrack hop (a new entry, DNATed once), and the data segments of the
 * established connection then go straight to the endpoint chosen by that DNAT
 * (in the kernel they hit the confirmed entry; no TCP loss is modelled, so
 * there is no retransmission to simulate).
 */
export interface TcpConnection extends TcpConn {
  /** Address ids (net/addr.ts). */
  localAddr: number;
  port: number;
  /** The endpoint the SYN was DNATed to (-1 until the SYN reaches it). */
  endpointAddr: number;
  onEstablished: (c: TcpConnection) => void;
  onMessage: (c: TcpConnection, m: DnsMessage) => void;
}
