/** The node's port table, by the node's wiring: its host-network pods bind in one network namespace. */
const nodeTables = new WeakMap<object, unknown[]>();

/** A pod's sockets by local port: a table of its own, or with hostNetwork the node's, shared with the other host-network pods. */
export function portTable<T>(hostNetwork: boolean, node: object): (T | undefined)[] {
  if (!hostNetwork) return new Array<T | undefined>(65536).fill(undefined);
  let t = nodeTables.get(node);
  if (t === undefined) nodeTables.set(node, (t = new Array<T | undefined>(65536).fill(undefined)));
  return t as (T | undefined)[];
}
