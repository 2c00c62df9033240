/**
 * resolv.conf as users write it: `nameserver`, `search`, `domain`, `options`,
 * `sortlist`, comments (`#` or `;`). The parse is strict where a typo would
 * silently change the simulation (an unknown keyword or option, a bad number),
 * and each libc then reads the parsed file its own way (clamps, ignored options).
 */

export interface ResolvOptions {
  ndots?: number;
  timeout?: number;
  attempts?: number;
  rotate?: boolean;
  singleRequest?: boolean;
  singleRequestReopen?: boolean;
  useVc?: boolean;
  noAaaa?: boolean;
  edns0?: boolean;
  trustAd?: boolean;
  noTldQuery?: boolean;
}

export interface ResolvConf {
  nameservers: string[];
  /** The search list (from the last `search` or `domain` line). */
  search: string[];
  options: ResolvOptions;
  /** Every directive line in order, as written (each libc reads them its own way). */
  lines: Directive[];
  text: string;
}

/** One nameserver, search/domain or options line. */
export interface Directive {
  line: number;
  /** Characters on the line (without its newline). */
  length: number;
  key: "nameserver" | "search" | "domain" | "options";
  args: string[];
}

export class ResolvConfError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

/** Option names glibc's res_setoptions knows; those marked false have no effect in this model. */
const FLAG_OPTIONS: Record<string, keyof ResolvOptions | null> = {
  rotate: "rotate",
  "single-request-reopen": "singleRequestReopen",
  "single-request": "singleRequest",
  "use-vc": "useVc",
  "no-aaaa": "noAaaa",
  edns0: "edns0",
  "trust-ad": "trustAd",
  "no-tld-query": "noTldQuery",
  no_tld_query: "noTldQuery",
  "no-reload": null,
  "no-check-names": null,
  "strict-error": null,
  debug: null,
  inet6: null,
  "ip6-bytestring": null,
  "ip6-dotint": null,
  "no-ip6-dotint": null,
  insecure1: null,
  insecure2: null,
};
const VALUE_OPTIONS = ["ndots", "timeout", "attempts"] as const;

export const KNOWN_OPTIONS = [...VALUE_OPTIONS.map((o) => `${o}:N`), ...Object.keys(FLAG_OPTIONS)];

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+(%\w+)?$/;
const DOMAIN = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], options: {}, lines: [], text };
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/\r$/, "");
    const body = line.replace(/[#;].*$/, "").trim();
    if (body === "") return;
    const [key, ...args] = body.split(/\s+/);
    if (key === "nameserver" || key === "search" || key === "domain" || key === "options") conf.lines.push({ line: lineNo, length: line.length, key, args });
    switch (key) {
      case "nameserver": {
        if (args.length !== 1) throw new ResolvConfError(lineNo, `"nameserver" takes one address, found ${args.length === 0 ? "none" : `"${args.join(" ")}"`}`);
        const addr = args[0]!;
        if (!IPV4.test(addr) && !(addr.includes(":") && IPV6.test(addr))) throw new ResolvConfError(lineNo, `"${addr}" is not an IPv4 or IPv6 address`);
        conf.nameservers.push(addr);
        return;
      }
      case "search":
      case "domain": {
        if (args.length === 0) throw new ResolvConfError(lineNo, `"${key}" needs at least one domain`);
        if (key === "domain" && args.length > 1) throw new ResolvConfError(lineNo, `"domain" takes one domain, found ${args.length}`);
        for (const d of args) if (!DOMAIN.test(d)) throw new ResolvConfError(lineNo, `"${d}" is not a domain name`);
        // The last search or domain line wins (glibc and musl alike).
        conf.search = args.map((d) => d.replace(/\.$/, ""));
        return;
      }
      case "options":
        for (const opt of args) parseOption(conf.options, opt, lineNo);
        return;
      case "sortlist":
        return; // address sorting: no effect on what is sent
      default:
        throw new ResolvConfError(lineNo, `unknown keyword "${key}" (expected nameserver, search, domain, options or sortlist)`);
    }
  });
  return conf;
}

export function parseOption(o: ResolvOptions, opt: string, lineNo: number): void {
  const colon = opt.indexOf(":");
  if (colon >= 0) {
    const name = opt.slice(0, colon);
    const value = opt.slice(colon + 1);
    if (!(VALUE_OPTIONS as readonly string[]).includes(name)) throw new ResolvConfError(lineNo, `unknown option "${opt}" (known: ${KNOWN_OPTIONS.join(", ")})`);
    if (!/^\d+$/.test(value)) throw new ResolvConfError(lineNo, `option "${name}" needs a whole number, found "${value}"`);
    o[name as (typeof VALUE_OPTIONS)[number]] = Number(value);
    return;
  }
  if (!(opt in FLAG_OPTIONS)) throw new ResolvConfError(lineNo, `unknown option "${opt}" (known: ${KNOWN_OPTIONS.join(", ")})`);
  const field = FLAG_OPTIONS[opt];
  if (field !== null && field !== undefined) (o as Record<string, unknown>)[field] = true;
}
