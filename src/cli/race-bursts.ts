import { parse } from "yaml";
import { Fixed } from "../engine/dist.js";
import type { KernelFeatures } from "../kernel/version.js";
import { BURST_QTYPES, type BurstOutcome, type BurstSpec } from "../experiment/burst.js";
import type { RaceResult } from "../experiment/race.js";
import { conntrackStatLine } from "../report/conntrack.js";
import { DIST_HELP, type DistSpec, buildDist, checkDist, distMean } from "../scenario/dist.js";
import { InputError } from "../scenario/load.js";
import { onceText, wholeNumber } from "./flags.js";

/** The flags of race's N-sender mode, as yargs hands them over. */
export interface BurstArgs {
  threads?: string | undefined;
  spreadUs?: string | undefined;
  qtypes?: string | undefined;
  bursts?: string | undefined;
}

/** udpclash.c's THREAD_COUNT is 128; a thousand covers any resolver's parallel queries. */
const MAX_THREADS = 1024;
/** As many datagrams as the pair experiment's largest run (1,000,000 pairs). */
const MAX_QUERIES = 2_000_000;
export const DEFAULT_BURSTS = 1000;
/** A burst's threads start within a second of one another (the spread's mean, in us). */
const MAX_SPREAD_MEAN_US = 1_000_000;

/** The flags that make a burst, or null without --threads (the others then are refused). */
export function burstOptions(a: BurstArgs): BurstSpec | null {
  const threadsText = onceText("--threads", a.threads);
  if (threadsText === undefined) {
    for (const [flag, v] of [["--spread-us", a.spreadUs], ["--qtypes", a.qtypes], ["--bursts", a.bursts]] as const) {
      if (v !== undefined) throw new InputError(`${flag}: applies only with --threads N (N senders on one socket).`);
    }
    return null;
  }
  const threads = wholeNumber("--threads", threadsText, 2, 2, MAX_THREADS);
  const bursts = wholeNumber("--bursts", a.bursts, DEFAULT_BURSTS, 1, MAX_QUERIES);
  if (threads * bursts > MAX_QUERIES) {
    throw new InputError(`--threads ${threads} --bursts ${bursts}: ${(threads * bursts).toLocaleString("en-US")} queries, more than the ${MAX_QUERIES.toLocaleString("en-US")} a run holds; give fewer bursts.`);
  }
  const qtypesText = onceText("--qtypes", a.qtypes) ?? "alternate";
  const qtypes = BURST_QTYPES.find((q) => q === qtypesText);
  if (qtypes === undefined) throw new InputError(`--qtypes: expected one of ${BURST_QTYPES.join(", ")}, found "${qtypesText}".`);
  const [spec, spreadText] = spread(onceText("--spread-us", a.spreadUs));
  return { threads, bursts, qtypes, spread: buildDist(spec, 1000), spreadText };
}

/** --spread-us: a distribution in the scenario syntax, in microseconds (YAML flow style on the command line). */
function spread(text: string | undefined): [DistSpec, string] {
  if (text === undefined) return [0, "0"];
  const bad = (why: string) =>
    new InputError(`--spread-us: expected ${DIST_HELP}, in microseconds (for example 0, or "{uniform: {min: 0, max: 20}}"), found "${text}"${why.startsWith("expected ") ? "" : `: ${why}`}.`);
  let v: unknown;
  try {
    v = parse(text);
  } catch (e) {
    throw bad(e instanceof Error ? e.message.split("\n")[0]! : "not YAML");
  }
  const problem = checkDist(v);
  if (problem !== null) throw bad(problem);
  const spec = v as DistSpec;
  if (distMean(spec) > MAX_SPREAD_MEAN_US) throw bad(`its mean is above ${MAX_SPREAD_MEAN_US.toLocaleString("en-US")} us (1 s): threads that far apart are not a burst`);
  return [spec, text.trim()];
}

/** The sending, in words, for the report's opening. */
export function burstPhrase(b: BurstSpec, cpus: number): string {
  const what = b.qtypes === "alternate" ? "A and AAAA in turn" : `all ${b.qtypes}`;
  const place = cpus === 1 ? "all on CPU 0" : `thread k on CPU k mod ${cpus}`;
  const when = b.spread instanceof Fixed ? "all starting at the same instant" : `each thread's start within its burst drawn from ${b.spreadText} us`;
  return `${b.bursts} burst${b.bursts === 1 ? "" : "s"} of ${b.threads} queries (${what}) from ${b.threads} threads sharing one connected UDP socket (${place}), ${when}, a fresh source port per burst`;
}

/** "0: 12, 1: 980, 2: 8": how many bursts had k of something. */
function histogram(h: number[]): string {
  return h.flatMap((n, k) => (n === 0 ? [] : [`${k}: ${n}`])).join(", ");
}

function pct(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)}%`;
}

/**
 * The verdict of the kernel's selftest, read from `conntrack -S` as conntrack_clash.sh reads it:
 * PASS when some CPU's line does not say clash_resolve=0 (grep "clash_resolve=0" | wc -l differs
 * from the line count), SKIP otherwise ("with right timing, xmit completed sequentially"). Before
 * 5.10 there is no clash_resolve column, and the script's check cannot tell: null.
 */
export function selftestVerdict(r: RaceResult, f: KernelFeatures): "PASS" | "SKIP" | null {
  if (!f.clashResolveCounter) return null;
  const lines = r.perCpu.map((c, cpu) => conntrackStatLine(cpu, c, f));
  return lines.filter((l) => l.includes("clash_resolve=0")).length !== lines.length ? "PASS" : "SKIP";
}

/** The report's lines on clashes, losses and the selftest's verdict, burst by burst. */
export function burstReportLines(r: RaceResult, b: BurstOutcome, f: KernelFeatures): string[] {
  const mean = (r.clashes / b.bursts).toFixed(2);
  const max = b.clashesPerBurst.length - 1;
  const verdict = selftestVerdict(r, f);
  return [
    `clashes        ${r.clashes} in ${b.bursts} burst${b.bursts === 1 ? "" : "s"} of ${b.threads} queries: ${mean} per burst, at most ${max}` +
      (r.clashes === 0 ? "" : `; to different endpoints: ${r.different_endpoint_clashes} (${pct(r.different_endpoint_clashes, r.clashes)})`),
    `  per burst    ${histogram(b.clashesPerBurst)} (clashes: bursts); ${b.burstsClashed} burst${b.burstsClashed === 1 ? "" : "s"} with a clash (${pct(b.burstsClashed, b.bursts)})`,
    b.burstsLost === 0
      ? "lost a query   0 bursts: every query was answered"
      : `lost a query   ${b.burstsLost} burst${b.burstsLost === 1 ? "" : "s"} (${pct(b.burstsLost, b.bursts)}) lost at least one query (burst${b.burstsLost === 1 ? "" : "s"} ${b.firstLost.join(", ")}${b.burstsLost > b.firstLost.length ? ", ..." : ""}, numbered from 0)`,
    ...(b.burstsLost === 0 ? [] : [`  per burst    ${histogram(b.lostPerBurst)} (queries lost: bursts)`]),
    verdict === null
      ? `selftest       conntrack_clash.sh's check does not apply on ${f.version}: it reads clash_resolve, a counter from 5.10`
      : verdict === "PASS"
        ? "selftest       conntrack_clash.sh would say PASS: clash_resolve moved"
        : "selftest       conntrack_clash.sh would say SKIP: clash resolution did not trigger (xmit completed sequentially)",
  ];
}

/** The --json fields of a burst run, in place of the pair experiment's gap_us, send, pairs, lost_pairs and both_replied. */
export function burstJson(r: RaceResult, s: BurstSpec, b: BurstOutcome, f: KernelFeatures): Record<string, unknown> {
  return {
    threads: s.threads,
    spread_us: s.spreadText,
    qtypes: s.qtypes,
    bursts: b.bursts,
    queries: b.queries,
    clashes: r.clashes,
    clashes_per_burst: b.clashesPerBurst,
    bursts_clashed: b.burstsClashed,
    bursts_lost: b.burstsLost,
    lost_per_burst: b.lostPerBurst,
    first_lost_bursts: b.firstLost,
    selftest: selftestVerdict(r, f),
  };
}
