import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import chromium from "@sparticuz/chromium";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { MAX_SERIES, type Series, cdfChart, intervalBarChart, paramWords, sweepChart, tailChart } from "../src/report/plots.js";
import { ROOT } from "./helpers.js";

/**
 * The plots as a reader sees them: each SVG is rendered in a real headless Chromium (the build
 * that @sparticuz/chromium ships inside its npm package, driven by puppeteer-core), and the test
 * fails when a text (a legend entry, a title, a bar label) reaches past the picture's edge or
 * overlaps another text, when a legend entry is not its series' full name, or when two
 * series of one panel share their colour or their dash (as computed by the browser), or a panel
 * draws more than MAX_SERIES. If Chromium cannot start, the test fails and says why: it never
 * passes without having looked.
 */

interface Look {
  width: number;
  height: number;
  /** Texts whose box leaves the picture. */
  outside: string[];
  /** Pairs of texts whose boxes overlap. */
  overlapping: string[];
  panels: { series: { label: string; stroke: string; dash: string }[]; legend: { label: string; stroke: string; dash: string }[] }[];
}

async function look(page: Page, svg: string): Promise<Look> {
  await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
  return page.evaluate(() => {
    const root = document.querySelector("svg")!;
    const frame = root.getBoundingClientRect();
    const box = (e: Element) => e.getBoundingClientRect();
    const outside = [...root.querySelectorAll("text")]
      .filter((t) => {
        const b = box(t);
        return b.width > 0 && (b.left < frame.left - 0.5 || b.right > frame.right + 0.5 || b.top < frame.top - 0.5 || b.bottom > frame.bottom + 0.5);
      })
      .map((t) => t.textContent ?? "");
    const style = (e: Element) => {
      const cs = getComputedStyle(e);
      return { stroke: cs.stroke, dash: cs.strokeDasharray };
    };
    const groups = root.querySelectorAll("g.panel").length > 0 ? [...root.querySelectorAll("g.panel")] : [root];
    const overlapping: string[] = [];
    // Any two texts of the picture that overlap (a note over a marker's label, two legend entries).
    const texts = [...root.querySelectorAll("text")].filter((t) => box(t).width > 0);
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++) {
        const [a, b] = [box(texts[i]!), box(texts[j]!)];
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlapping.push(`${texts[i]!.textContent} / ${texts[j]!.textContent}`);
      }
    const panels = groups.map((g) => {
      const labels = [...g.querySelectorAll("g.legend text.label")];
      const swatches = [...g.querySelectorAll("g.legend .swatch")];
      return {
        series: [...g.querySelectorAll("path.series")].map((p) => ({ label: p.querySelector("title")?.textContent ?? "", ...style(p) })),
        legend: labels.map((t, i) => ({ label: t.textContent ?? "", ...style(swatches[i]!) })),
      };
    });
    return { width: frame.width, height: frame.height, outside, overlapping, panels };
  });
}

/** Every fault the test looks for, in words (empty: the plot reads right). */
function faults(l: Look, name: string): string[] {
  const out: string[] = [];
  for (const t of l.outside) out.push(`${name}: "${t}" reaches past the picture's edge (cut)`);
  for (const o of l.overlapping) out.push(`${name}: texts overlap: ${o}`);
  l.panels.forEach((p, k) => {
    if (p.series.length > MAX_SERIES) out.push(`${name}: panel ${k + 1} draws ${p.series.length} series, more than ${MAX_SERIES}`);
    for (let i = 0; i < p.series.length; i++)
      for (let j = i + 1; j < p.series.length; j++) {
        const [a, b] = [p.series[i]!, p.series[j]!];
        if (a.stroke === b.stroke) out.push(`${name}: panel ${k + 1}: ${a.label} and ${b.label} share the colour ${a.stroke}`);
        if (a.dash === b.dash) out.push(`${name}: panel ${k + 1}: ${a.label} and ${b.label} share the dash ${a.dash}`);
      }
    // A bar chart's legend names its groups, not series.
    if (p.series.length === 0) return;
    if (p.legend.length !== p.series.length) out.push(`${name}: panel ${k + 1}: ${p.legend.length} legend entries for ${p.series.length} series`);
    p.series.forEach((s, i) => {
      const e = p.legend[i];
      if (e === undefined) return;
      if (e.label !== s.label && !e.label.startsWith(`${s.label} (= `)) out.push(`${name}: panel ${k + 1}: the legend says "${e.label}" for the series "${s.label}" (cut or wrong)`);
      if (e.stroke !== s.stroke || e.dash !== s.dash) out.push(`${name}: panel ${k + 1}: the legend's swatch for ${s.label} is not drawn as its line`);
    });
  });
  return out;
}

const lat = (n: number, scale: number) => Float64Array.from({ length: n }, (_, i) => scale * (1 + i / n) * (i % 97 === 0 ? 1000 : 1)).sort();
const LONG = ["glibc", "single-request-reopen-with-a-very-long-name", "musl-single-request-reopen (what it is)", "nodelocal-dns-cache-on-every-node", "kernel-5.10", "fqdn-absolute-names", "tc-delay-pod-eth0", "go"];

describe("plots, rendered in headless Chromium: no cut legend, no two series alike", function () {
  this.timeout(180_000);
  let browser: Browser;
  let page: Page;

  before(async () => {
    let path = "";
    try {
      path = await chromium.executablePath();
      browser = await puppeteer.launch({ executablePath: path, args: chromium.args, headless: true });
    } catch (e) {
      throw new Error(
        `HEADLESS CHROMIUM DID NOT START (${path || "no executable"}): ${String(e)}. The plot test renders every plot in a real browser and cannot check them without it; ` +
          "it fails rather than pass unseen. @sparticuz/chromium (a devDependency) ships the browser inside its npm package: run npm ci, on x64 or arm64 Linux with a writable /tmp.",
      );
    }
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
  });

  it("the checker finds what it looks for: a legend entry past the edge, two series drawn alike, two texts on each other", async () => {
    const bad = cdfChart("t", "s", [{ title: "p", series: [{ label: "a", latMs: lat(200, 1) }, { label: "b", latMs: lat(200, 2) }] }])
      .replace(/stroke="#4e79a7" stroke-width="2" stroke-dasharray="9 4"/g, 'stroke="#222222" stroke-width="2"')
      .replace(/(<text class="label" x=")\d+/, "$1890")
      .replace("</svg>", '<text x="80" y="28" font-size="18">over the title</text></svg>');
    const f = faults(await look(page, bad), "bad.svg").join("\n");
    assert.match(f, /"a" reaches past the picture's edge/);
    assert.match(f, /a and b share the colour/);
    assert.match(f, /a and b share the dash/);
    assert.match(f, /texts overlap: t \/ over the title/);
  });

  it("cdf and tail with 8 long-named series on each of two panels", async () => {
    const series: Series[] = LONG.map((label, i) => ({ label, latMs: lat(500, 0.3 * (i + 1)) }));
    const panels = [
      { title: "glibc pods: glibc and its 7 variants", series },
      { title: "musl pods", note: "2 not drawn.", series: series.slice(0, 3).map((s) => ({ ...s, label: `musl-${s.label}` })) },
    ];
    for (const [name, svg] of [
      ["cdf", cdfChart("CDF", "sub", panels)],
      ["tail", tailChart("Tail", "sub", panels)],
    ] as const) {
      const l = await look(page, svg);
      assert.deepEqual(faults(l, name), []);
      assert.equal(l.panels.length, 2);
      assert.equal(l.panels[0]!.series.length, 8);
    }
  });

  it("bars with long labels, and a sweep of 11 lines drawn as panels of at most 8", async () => {
    const bars = intervalBarChart("Bars", "sub", "share of lookups over 1 s", LONG.map((label, i) => ({ label, value: i / 100, low: i / 200, high: i / 50, group: i % 2 })), ["glibc pods (reference: glibc)", "musl pods (reference: musl)"]);
    assert.deepEqual(faults(await look(page, bars), "bars"), []);
    const lines = Array.from({ length: 11 }, (_, i) => ({ label: `kernel=5.${i}, pods.libc=${i % 2 === 0 ? "glibc" : "musl"}`, points: [1, 2, 4].map((x) => ({ x, y: (x * (i + 1)) / 100, low: null, high: null })) }));
    const svg = sweepChart("Sweep", "sub", paramWords("kube_dns.endpoints"), "share of lookups over 1 s", lines);
    const l = await look(page, svg);
    assert.deepEqual(faults(l, "sweep"), []);
    assert.deepEqual(l.panels.map((p) => p.series.length), [8, 3]);
  });

  for (const f of ["results/mitigations/cdf.svg", "results/mitigations/tail.svg", "results/mitigations/slow.svg", "results/sweep-endpoints/sweep.svg"]) {
    it(`${f} as committed`, async () => {
      assert.deepEqual(faults(await look(page, readFileSync(join(ROOT, f), "utf8")), f), []);
    });
  }
});

describe("plots: axis titles in words", () => {
  it("a sweep parameter's dotted path is written in words", () => {
    assert.equal(paramWords("kube_dns.endpoints"), "kube-dns endpoints");
    assert.equal(paramWords("pods.libc"), "pod libc");
    assert.equal(paramWords("node.cpus"), "node CPUs");
    assert.equal(paramWords("kernel"), "kernel");
    assert.equal(paramWords("node.timing.rule_ns"), "node timing rule (ns)");
  });
});
