import { parseDocument } from "yaml";
import { InputError } from "../scenario/load.js";
import type { Cited } from "./fields.js";

/** A container's stub resolver: one the model has, or "unknown" (never guessed). */
export type ImageResolver = "glibc" | "musl" | "go" | "unknown";
const RESOLVERS = ["glibc", "musl", "go"] as const;

/** The annotation that names a pod's resolver (every container), and its per-container form. */
export const RESOLVER_ANNOTATION = "dnsrace.io/resolver";

/** An --images file: image patterns (a trailing * matches any rest) to resolvers, tried in the file's order. */
export interface ImageMap {
  file: string;
  entries: { pattern: string; resolver: Exclude<ImageResolver, "unknown">; line: number }[];
}

/** Reads an --images file: a YAML (or JSON) mapping of image patterns to glibc, musl or go. */
export function parseImageMap(text: string, file: string): ImageMap {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  if (doc.errors.length > 0) throw new InputError(`${file}: this is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}.`);
  const data = doc.toJS() as unknown;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new InputError(`${file}: expected a mapping of image patterns to resolvers, such as "registry.example.com/shop/*: glibc".`);
  }
  const lines = text.split("\n");
  const entries = Object.entries(data as Record<string, unknown>).map(([pattern, r]) => {
    const line = lines.findIndex((l) => l.includes(pattern)) + 1;
    if (typeof r !== "string" || !(RESOLVERS as readonly string[]).includes(r)) {
      throw new InputError(`${file}: line ${line}: image "${pattern}": expected glibc, musl or go, found ${JSON.stringify(r)}.`);
    }
    return { pattern, resolver: r as Exclude<ImageResolver, "unknown">, line };
  });
  return { file, entries };
}

/** An image reference split as the distribution spec names its parts: [registry/]repository[:tag][@digest]. */
export function splitImage(image: string): { repository: string; last: string; tag: string } {
  const noDigest = image.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  const hasTag = colon > slash;
  const repository = hasTag ? noDigest.slice(0, colon) : noDigest;
  return { repository, last: repository.slice(repository.lastIndexOf("/") + 1), tag: hasTag ? noDigest.slice(colon + 1) : "" };
}

/** Distribution images built on glibc: Debian, Ubuntu, Red Hat UBI and its relatives, Amazon Linux. */
const GLIBC_BASES = new Set(["debian", "ubuntu", "ubi", "ubi8", "ubi9", "ubi10", "ubi-minimal", "ubi8-minimal", "ubi9-minimal", "centos", "fedora", "rockylinux", "almalinux", "amazonlinux", "oraclelinux", "opensuse", "leap", "archlinux"]);
/** Tags of the Docker official images' Debian and Ubuntu variants (their "Image Variants" sections). */
const GLIBC_TAG = /(?:^|[-.])(bookworm|bullseye|buster|stretch|trixie|slim|jammy|focal|noble|bionic)(?:$|[-.])/;
/** Tags that name the base distribution with its release, as NVIDIA's CUDA images do (`12.4.1-runtime-ubuntu22.04`, `-ubi9`, `-rockylinux9`). */
const GLIBC_DISTRO_TAG = /(?:^|[-.])(ubuntu|debian|ubi|rockylinux|centos|almalinux|amazonlinux)\d+(?:\.\d+)?(?:$|[-.])/;
/**
 * Official images whose default variant (`name:version` with no variant in the tag) is Debian
 * based, as each one's "Image Variants" section says; eclipse-temurin's is Ubuntu.
 */
const DEBIAN_DEFAULT: ReadonlySet<string> = new Set(["python", "node", "ruby", "php", "perl", "openjdk", "eclipse-temurin", "nginx", "httpd", "redis", "postgres", "mysql", "rabbitmq", "memcached", "elixir", "erlang", "haskell", "rust"]);

/**
 * The resolver of an image by these documented rules, first match wins:
 * 1. an Alpine base (`alpine`) or an -alpine variant tag (`node:20-alpine`): musl (Alpine is musl-based);
 * 2. distroless static (`gcr.io/distroless/static*`): no libc in the image, so a static binary, as
 *    which Go programs ship: Go's pure resolver;
 * 3. distroless base, cc, java, python3, nodejs (Debian's glibc), and the distributions in
 *    GLIBC_BASES, Debian/Ubuntu variant tags (`-slim`, `-bookworm`, `-jammy`), tags naming a glibc
 *    distribution with its release (`-ubuntu22.04`, `-ubi9`), and the official
 *    images of DEBIAN_DEFAULT with no variant in the tag: glibc;
 * anything else: unknown. A scratch image cannot be told from its name: name it in --images.
 */
export function resolverByRule(image: string): { resolver: ImageResolver; rule: string } {
  const { repository, last, tag } = splitImage(image.toLowerCase());
  if (last === "alpine" || /(^|[-.])alpine/.test(tag)) return { resolver: "musl", rule: last === "alpine" ? "an Alpine base image: musl" : "an -alpine variant tag: musl" };
  if (/(^|\/)distroless\/static/.test(repository)) return { resolver: "go", rule: "distroless static: no libc, a static (Go) binary: Go's resolver" };
  if (/(^|\/)distroless\/(base|cc|java|python|nodejs)/.test(repository)) return { resolver: "glibc", rule: "distroless base/cc/runtime images: Debian's glibc" };
  if (GLIBC_BASES.has(last)) return { resolver: "glibc", rule: `a ${last} base image: glibc` };
  if (GLIBC_TAG.test(tag)) return { resolver: "glibc", rule: `a Debian/Ubuntu variant tag (${tag}): glibc` };
  if (GLIBC_DISTRO_TAG.test(tag)) return { resolver: "glibc", rule: `a tag naming its glibc base distribution and release (${tag}): glibc` };
  if (DEBIAN_DEFAULT.has(last) && /^(docker\.io\/)?(library\/)?[a-z0-9-]+$/.test(repository) && !/windowsservercore|nanoserver/.test(tag)) {
    return { resolver: "glibc", rule: `the official ${last} image's default variant is Debian: glibc` };
  }
  return { resolver: "unknown", rule: "no rule matches this image (name it in --images, or annotate the pod dnsrace.io/resolver)" };
}

/** A container's resolver: the pod's annotation (per container, then for all), then --images, then the rules. */
export function containerResolver(image: string, container: string, annotations: Record<string, string>, podRef: string, map: ImageMap | null): Cited<ImageResolver> & { rule: string } {
  for (const key of [`${RESOLVER_ANNOTATION}.${container}`, RESOLVER_ANNOTATION]) {
    const v = annotations[key];
    if (v === undefined) continue;
    if (!(RESOLVERS as readonly string[]).includes(v)) throw new InputError(`${podRef}: annotation ${key}: expected glibc, musl or go, found "${v}".`);
    return { value: v as ImageResolver, from: `${podRef} metadata.annotations["${key}"]`, rule: "annotated" };
  }
  if (map !== null) {
    for (const e of map.entries) {
      const hit = e.pattern.endsWith("*") ? image.startsWith(e.pattern.slice(0, -1)) : image === e.pattern;
      if (hit) return { value: e.resolver, from: `${map.file}: line ${e.line} ("${e.pattern}")`, rule: "named in --images" };
    }
  }
  const r = resolverByRule(image);
  return { value: r.resolver, from: `image ${image}: ${r.rule}`, rule: r.rule };
}
