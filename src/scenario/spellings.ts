/**
 * The two spellings of a pod's DNS and network fields, the scenario's (snake_case) and the pod
 * spec's (camelCase), and the readers that take either. Apart from schema.ts, so that what runs a
 * loaded scenario (a worker thread among them) reads them without loading the schema's validator.
 */
/** A pod's dnsPolicy values (core/v1 DNSPolicy). */
export const DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"] as const;

/** The two spellings of a pod's DNS and network fields: the scenario's (snake_case) and the pod spec's (camelCase). */
export const DNS_SPELLINGS = { policy: ["dns_policy", "dnsPolicy"], config: ["dns_config", "dnsConfig"], network: ["host_network", "hostNetwork"] } as const;

/** Whether the pod shares the node's network namespace, under either spelling. */
export function podHostNetwork(p: { host_network?: boolean | undefined; hostNetwork?: boolean | undefined }): boolean {
  return p.host_network ?? p.hostNetwork ?? false;
}

/** The pod's dnsPolicy, under either spelling. */
export function podDnsPolicy(p: { dns_policy?: (typeof DNS_POLICIES)[number] | undefined; dnsPolicy?: (typeof DNS_POLICIES)[number] | undefined }): (typeof DNS_POLICIES)[number] | undefined {
  return p.dns_policy ?? p.dnsPolicy;
}

/** The pod's dnsConfig, under either spelling. */
export function podDnsConfig<C>(p: { dns_config?: C | undefined; dnsConfig?: C | undefined }): C | undefined {
  return p.dns_config ?? p.dnsConfig;
}

/** The name a pod's DNS field was given under (the scenario's when neither was given), for messages. */
export function dnsFieldName(p: object, field: keyof typeof DNS_SPELLINGS): string {
  const [snake, camel] = DNS_SPELLINGS[field];
  return camel in p && (p as Record<string, unknown>)[camel] !== undefined ? camel : snake;
}
