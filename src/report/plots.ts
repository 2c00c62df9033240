import { type ScaleLinear, type ScaleLogarithmic, scaleBand, scaleLinear, scaleLog, scalePoint } from "d3-scale";
import { curveLinear, line } from "d3-shape";
import { percentText } from "../stats/proportion.js";

export { paramWords } from "./words.js";

/**
 * Static SVG charts drawn with d3-scale and d3-shape (no DOM): the path data
 * comes from d3's line generator, the rest is written as SVG text. Numbers
 * are rounded to 2 decimals, so the same data gives the same bytes.
 */

/**
 * The first 8 colours of Tableau 10 (d3-scale-chromatic's schemeTableau10), with the darkest
 * first for the reference: a panel has at most MAX_SERIES series, and series i has colour i and
 * dash i, so two series differ in both colour and dash (colour-blind readers and print see the dash).
 */
export const PALETTE = ["#222222", "#4e79a7", "#f28e2c", "#e15759", "#59a14f", "#af7aa1", "#9c755f", "#76b7b2"];
export const DASHES = ["", "9 4", "2 3", "9 3 2 3", "14 4", "5 5", "1 5", "12 3 2 3 2 3"];
/** Series drawn on one panel at most. */
export const MAX_SERIES = PALETTE.length;

export interface Series {
  label: string;
  /** Latencies in ms, ascending. */
  latMs: Float64Array;
}

/** One panel of a small-multiples chart: its title and at most MAX_SERIES series. */
export interface Panel {
  title: string;
  /** A line under the title: what was left out. */
  note?: string;
  series: Series[];
}

const W = 900;
const H = 520;
const M = { top: 64, right: 250, bottom: 64, left: 80 };
const FONT = `font-family="Helvetica, Arial, sans-serif"`;
/** Legend text: 12 px Helvetica/Arial averages under 7 px a character (a test measures it in a browser). */
const LEGEND_CHAR_PX = 7;

/** The legend's width for these labels: the swatch, the gap, the longest label, a margin. */
function legendWidth(labels: string[]): number {
  return 30 + Math.ceil(Math.max(0, ...labels.map((l) => l.length)) * LEGEND_CHAR_PX) + 16;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

function frame(title: string, subtitle: string, body: string[], height = H, width = W): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="28" font-size="18" font-weight="bold" fill="#222">${esc(title)}</text>`,
    `<text x="${M.left}" y="48" font-size="12" fill="#555">${esc(subtitle)}</text>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

function style(i: number): { color: string; dash: string } {
  if (i >= MAX_SERIES) throw new RangeError(`series ${i + 1}: a panel draws at most ${MAX_SERIES}`);
  return { color: PALETTE[i]!, dash: DASHES[i]! };
}

function legend(labels: string[], x: number, y: number): string[] {
  const out: string[] = [`<g class="legend">`];
  labels.forEach((label, i) => {
    const { color, dash } = style(i);
    const ly = y + i * 20;
    out.push(
      `<line class="swatch" x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`,
      `<text class="label" x="${x + 30}" y="${ly + 4}" font-size="12" fill="#222">${esc(label)}</text>`,
    );
  });
  out.push(`</g>`);
  return out;
}

function msLabel(v: number): string {
  if (v >= 1000) return `${n2(v / 1000)} s`;
  return `${n2(v)} ms`;
}

/** The x axis of latency: log scale over whole decades that hold every value. */
function latencyAxis(series: Series[], width: number): ScaleLogarithmic<number, number> {
  let lo = Infinity;
  let hi = 0;
  for (const s of series) {
    if (s.latMs.length === 0) continue;
    lo = Math.min(lo, s.latMs[0]!);
    hi = Math.max(hi, s.latMs[s.latMs.length - 1]!);
  }
  if (!Number.isFinite(lo)) [lo, hi] = [0.1, 10_000];
  const a = 10 ** Math.floor(Math.log10(Math.max(lo, 0.01)));
  const b = 10 ** Math.ceil(Math.log10(Math.max(hi * 1.0001, 10_000)));
  return scaleLog().domain([a, b]).range([0, width]);
}

function xAxisLog(x: ScaleLogarithmic<number, number>, plotH: number): string[] {
  const out: string[] = [];
  const [a, b] = x.domain() as [number, number];
  for (let d = a; d <= b * 1.0001; d *= 10) {
    for (let m = 1; m < 10; m++) {
      const v = d * m;
      if (v > b * 1.0001) break;
      const px = n2(x(v));
      const major = m === 1;
      out.push(`<line x1="${px}" y1="0" x2="${px}" y2="${plotH}" stroke="${major ? "#d0d0d0" : "#eeeeee"}"/>`);
      if (major) out.push(`<text x="${px}" y="${plotH + 18}" font-size="12" text-anchor="middle" fill="#333">${msLabel(v)}</text>`);
    }
  }
  return out;
}

/** Vertical markers at the resolvers' retry times. */
function retryMarkers(x: ScaleLogarithmic<number, number>, plotH: number): string[] {
  const out: string[] = [];
  for (const [v, label] of [
    [2500, "2.5 s: musl resends"],
    [5000, "5 s: glibc resends"],
  ] as [number, string][]) {
    const px = n2(x(v));
    out.push(
      `<line x1="${px}" y1="0" x2="${px}" y2="${plotH}" stroke="#888" stroke-dasharray="4 4"/>`,
      `<text x="${px}" y="-6" font-size="11" text-anchor="${v === 2500 ? "end" : "start"}" fill="#555">${label}</text>`,
    );
  }
  return out;
}

function yAxis(y: ScaleLinear<number, number> | ScaleLogarithmic<number, number>, ticks: number[], fmt: (v: number) => string, plotW: number): string[] {
  return ticks.flatMap((t) => {
    const py = n2(y(t));
    return [`<line x1="0" y1="${py}" x2="${plotW}" y2="${py}" stroke="#e0e0e0"/>`, `<text x="-8" y="${py}" dy="4" font-size="12" text-anchor="end" fill="#333">${fmt(t)}</text>`];
  });
}

function axisTitles(xTitle: string, yTitle: string, plotW: number, plotH: number): string[] {
  return [
    `<text x="${n2(plotW / 2)}" y="${plotH + 44}" font-size="13" text-anchor="middle" fill="#222">${esc(xTitle)}</text>`,
    `<text transform="translate(-58,${n2(plotH / 2)}) rotate(-90)" font-size="13" text-anchor="middle" fill="#222">${esc(yTitle)}</text>`,
    `<rect x="0" y="0" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  ];
}

/**
 * Points of the empirical distribution at cumulative levels: every 0.1%, and
 * tail levels 1 - 10^(-j/40) down to one lookup, so both the body and the
 * tail are drawn exactly at the lookups they pass through.
 */
function ecdfPoints(lat: Float64Array): { x: number; f: number }[] {
  const n = lat.length;
  if (n === 0) return [];
  const idx = new Set<number>([0, n - 1]);
  for (let i = 1; i <= 1000; i++) idx.add(Math.min(n - 1, Math.ceil((i / 1000) * n) - 1));
  for (let j = 1; 10 ** (-j / 40) >= 1 / n; j++) idx.add(Math.min(n - 1, Math.max(0, Math.ceil((1 - 10 ** (-j / 40)) * n) - 1)));
  // Where the distribution jumps (a retry step), keep the lookup just before it too.
  for (let i = 1; i < n; i++) if (lat[i]! > lat[i - 1]! * 1.5 && lat[i]! > 100) idx.add(i - 1);
  return [...idx].sort((a, b) => a - b).map((i) => ({ x: lat[i]!, f: (i + 1) / n }));
}

/**
 * Drops points that move the pen less than a pixel from the last one kept:
 * the drawn curve is the same, the file a fraction of the size.
 */
function thin(px: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < px.length; i++) {
    const p = px[i]!;
    const last = out[out.length - 1];
    if (last === undefined || i === px.length - 1 || Math.abs(p[0] - last[0]) >= 1 || Math.abs(p[1] - last[1]) >= 1) out.push(p);
  }
  return out;
}

/** A step curve (the value holds until the next point) through pixel points, thinned. */
function stepPath(pts: [number, number][]): string {
  const stepped: [number, number][] = [];
  for (const p of pts) {
    const last = stepped[stepped.length - 1];
    if (last !== undefined) stepped.push([p[0], last[1]]);
    stepped.push(p);
  }
  return line().curve(curveLinear).digits(1)(thin(stepped)) ?? "";
}

/** Legend labels; a series with exactly the latencies of an earlier one says so, since its curve lies under that one. */
function seriesLabels(series: Series[]): string[] {
  return series.map((s, i) => {
    const twin = series.findIndex((t, j) => j < i && t.latMs.length === s.latMs.length && t.latMs.every((v, k) => v === s.latMs[k]));
    return twin < 0 ? s.label : `${s.label} (= ${series[twin]!.label})`;
  });
}

const PLOT_W = 570;
const PANEL_PLOT_H = 300;
/** A panel: its title above the plot, the plot, the x axis and its title below. */
const PANEL_H = 58 + PANEL_PLOT_H + 60;

/**
 * Small multiples: one panel per group of series (each at most MAX_SERIES), stacked, sharing the
 * x axis's range so they compare; the legend of each panel to its right, as wide as its longest label.
 */
function panelChart(title: string, subtitle: string, panels: Panel[], draw: (series: Series[], x: ScaleLogarithmic<number, number>, ph: number) => string[], xTitle: string, yTitle: string): string {
  const all = panels.flatMap((p) => p.series);
  const x = latencyAxis(all, PLOT_W);
  const labels = panels.map((p) => seriesLabels(p.series));
  const width = M.left + PLOT_W + 20 + legendWidth(labels.flat());
  const height = M.top + panels.length * PANEL_H + 8;
  const body: string[] = [];
  panels.forEach((p, k) => {
    if (p.series.length > MAX_SERIES) throw new RangeError(`panel "${p.title}": ${p.series.length} series, at most ${MAX_SERIES}`);
    const top = M.top + k * PANEL_H;
    body.push(`<g class="panel">`, `<text x="${M.left}" y="${top + 16}" font-size="14" font-weight="bold" fill="#222">${esc(p.title)}</text>`);
    if (p.note !== undefined) body.push(`<text x="${M.left}" y="${top + 32}" font-size="11" fill="#555">${esc(p.note)}</text>`);
    body.push(`<g transform="translate(${M.left},${top + 58})">`, ...draw(p.series, x, PANEL_PLOT_H), ...axisTitles(xTitle, yTitle, PLOT_W, PANEL_PLOT_H), `</g>`);
    body.push(...legend(labels[k]!, M.left + PLOT_W + 20, top + 68), `</g>`);
  });
  return frame(title, subtitle, body, height, width);
}

const seriesPath = (d: string, i: number, label: string) => {
  const { color, dash } = style(i);
  return `<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}><title>${esc(label)}</title></path>`;
};

/** The latency CDF, a panel per group of series, log time axis. */
export function cdfChart(title: string, subtitle: string, panels: Panel[]): string {
  const y = scaleLinear().domain([0, 1]).range([PANEL_PLOT_H, 0]);
  return panelChart(
    title,
    subtitle,
    panels,
    (series, x, ph) => {
      const body = [...xAxisLog(x, ph), ...yAxis(y, [0, 0.2, 0.4, 0.6, 0.8, 1], (v) => `${Math.round(v * 100)}%`, PLOT_W), ...retryMarkers(x, ph)];
      const px = (p: { x: number; f: number }): [number, number] => [x(Math.max(p.x, x.domain()[0]!)), y(p.f)];
      series.forEach((s, i) => {
        const pts = ecdfPoints(s.latMs);
        if (pts.length === 0) return;
        body.push(seriesPath(stepPath([{ x: pts[0]!.x, f: 0 }, ...pts, { x: x.domain()[1]!, f: 1 }].map(px)), i, s.label));
      });
      return body;
    },
    "lookup latency (log scale)",
    "share of lookups done",
  );
}

/** The tail: share of lookups slower than t, both axes log, so a 0.1% step at 5 s is as visible as a 20% one; a panel per group. */
export function tailChart(title: string, subtitle: string, panels: Panel[]): string {
  const maxN = Math.max(1, ...panels.flatMap((p) => p.series.map((s) => s.latMs.length)));
  const floor = 10 ** Math.floor(Math.log10(1 / maxN));
  const y = scaleLog().domain([floor, 1]).range([PANEL_PLOT_H, 0]).clamp(true);
  const ticks: number[] = [];
  for (let v = 1; v >= floor * 0.999; v /= 10) ticks.push(v);
  return panelChart(
    title,
    subtitle,
    panels,
    (series, x, ph) => {
      const body = [...xAxisLog(x, ph), ...yAxis(y, ticks, (v) => `${Number((v * 100).toPrecision(3))}%`, PLOT_W), ...retryMarkers(x, ph)];
      const px = (p: { x: number; f: number }): [number, number] => [x(Math.max(p.x, x.domain()[0]!)), y(1 - p.f)];
      series.forEach((s, i) => {
        if (s.latMs.length === 0) return;
        // P(latency > x) is drawn until it reaches 0 (the slowest lookup).
        const pts = ecdfPoints(s.latMs).filter((p) => p.f < 1);
        const last = s.latMs[s.latMs.length - 1]!;
        body.push(seriesPath(stepPath([{ x: s.latMs[0]!, f: 0 }, ...pts, { x: last, f: 1 - floor }].map(px)), i, s.label));
      });
      return body;
    },
    "lookup latency t (log scale)",
    "share of lookups slower than t (log scale)",
  );
}

export interface IntervalBar {
  label: string;
  value: number;
  low: number | null;
  high: number | null;
  /** The bar's group (a libc's pods), which gives its colour; 0 when there is one. */
  group?: number;
}

/**
 * Horizontal bars of a share per variant with their 95% intervals as whiskers, in the order given
 * (the report's rank order), coloured by group with a legend of the groups' names when there are several.
 */
export function intervalBarChart(title: string, subtitle: string, xTitle: string, bars: IntervalBar[], groupNames: string[] = []): string {
  const rowH = 30;
  const left = 24 + Math.ceil(Math.max(8, ...bars.map((b) => b.label.length)) * LEGEND_CHAR_PX);
  const pw = W - 210 - 80;
  const width = left + pw + 80;
  const ph = bars.length * rowH;
  const legendH = groupNames.length > 1 ? 20 * groupNames.length + 10 : 0;
  const height = M.top + legendH + ph + M.bottom;
  const top = Math.max(0.001, ...bars.map((b) => Math.max(b.value, b.high ?? 0))) * 1.15;
  const x = scaleLinear().domain([0, top]).range([0, pw]).nice();
  const y = scaleBand().domain(bars.map((b) => b.label)).range([0, ph]).padding(0.25);
  const pct = (v: number) => `${n2(v * 100)}%`;
  const colour = (g: number) => PALETTE[1 + (g % (PALETTE.length - 1))]!;
  const body: string[] = [];
  if (legendH > 0) {
    body.push(`<g class="legend">`);
    groupNames.forEach((name, g) => {
      const ly = M.top + g * 20;
      body.push(`<rect class="swatch" x="${left}" y="${ly - 6}" width="24" height="12" fill="${colour(g)}" fill-opacity="0.85"/>`, `<text class="label" x="${left + 30}" y="${ly + 4}" font-size="12" fill="#222">${esc(name)}</text>`);
    });
    body.push(`</g>`);
  }
  body.push(`<g transform="translate(${left},${M.top + legendH})">`);
  for (const t of x.ticks(6)) {
    const px = n2(x(t));
    body.push(`<line x1="${px}" y1="0" x2="${px}" y2="${ph}" stroke="#e0e0e0"/>`, `<text x="${px}" y="${ph + 18}" font-size="12" text-anchor="middle" fill="#333">${pct(t)}</text>`);
  }
  bars.forEach((b) => {
    const color = colour(b.group ?? 0);
    const by = y(b.label)!;
    const bh = y.bandwidth();
    const mid = n2(by + bh / 2);
    body.push(
      `<text class="bar-label" x="-10" y="${mid}" dy="4" font-size="12" text-anchor="end" fill="#222">${esc(b.label)}</text>`,
      `<rect class="bar" x="0" y="${n2(by)}" width="${n2(x(b.value))}" height="${n2(bh)}" fill="${color}" fill-opacity="0.85"><title>${esc(b.label)}: ${pct(b.value)}</title></rect>`,
    );
    if (b.low !== null && b.high !== null) {
      const [lx, hx] = [n2(x(b.low)), n2(x(b.high))];
      body.push(
        `<path class="interval" d="M${lx},${mid}H${hx}M${lx},${n2(by + 4)}V${n2(by + bh - 4)}M${hx},${n2(by + 4)}V${n2(by + bh - 4)}" stroke="#222" stroke-width="1.5" fill="none"/>`,
      );
    }
    const end = Math.max(x(b.value), b.high === null ? 0 : x(b.high));
    // A zero is shown with its upper bound, as the report gives it.
    const text = b.value === 0 && b.high !== null && b.high > 0 ? `0 (95% upper bound ${percentText(b.high)}%)` : pct(b.value);
    body.push(`<text x="${n2(end + 6)}" y="${mid}" dy="4" font-size="11" fill="#444">${text}</text>`);
  });
  body.push(`<text x="${n2(pw / 2)}" y="${ph + 44}" font-size="13" text-anchor="middle" fill="#222">${esc(xTitle)}</text>`, `<rect x="0" y="0" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`, `</g>`);
  return frame(title, subtitle, body, height, width);
}

export interface LinePoint {
  x: string | number;
  y: number;
  low: number | null;
  high: number | null;
}

/**
 * A share against a swept parameter, one line per combination of the other parameters, with 95%
 * intervals; more than MAX_SERIES lines are drawn as stacked panels of at most MAX_SERIES each,
 * on the same axes.
 */
export function sweepChart(title: string, subtitle: string, xTitle: string, yTitle: string, lines: { label: string; points: LinePoint[] }[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p.x)))];
  const numeric = xs.every((v) => typeof v === "number");
  const [xmin, xmax] = numeric ? [Math.min(...(xs as number[])), Math.max(...(xs as number[]))] : [0, 0];
  // A twentieth of the range on each side keeps the end points off the frame.
  const lin = numeric ? scaleLinear().domain([xmin - (xmax - xmin) / 20, xmax + (xmax - xmin) / 20]).range([0, pw]) : null;
  const pts = scalePoint<string>().domain(xs.map(String)).range([0, pw]).padding(0.3);
  const xOf = (v: string | number) => (lin !== null && lin.domain()[0] !== lin.domain()[1] ? lin(v as number) : pts(String(v))!);
  const top = Math.max(0.001, ...lines.flatMap((l) => l.points.map((p) => Math.max(p.y, p.high ?? 0)))) * 1.1;
  const y = scaleLinear().domain([0, top]).range([ph, 0]).nice();
  const pct = (v: number) => `${n2(v * 100)}%`;
  const path = line<LinePoint>()
    .x((p) => xOf(p.x))
    .y((p) => y(p.y))
    .curve(curveLinear)
    .digits(2);
  const chunks: (typeof lines)[] = [];
  for (let i = 0; i < lines.length; i += MAX_SERIES) chunks.push(lines.slice(i, i + MAX_SERIES));
  if (chunks.length === 0) chunks.push([]);
  const width = Math.max(W, M.left + pw + 20 + legendWidth(lines.map((l) => l.label)));
  const step = ph + M.bottom + 16;
  const body: string[] = [];
  chunks.forEach((chunk, k) => {
    const oy = M.top + k * step;
    body.push(`<g class="panel">`, `<g transform="translate(${M.left},${oy})">`, ...yAxis(y, y.ticks(6), pct, pw));
    for (const v of xs) body.push(`<text x="${n2(xOf(v))}" y="${ph + 18}" font-size="12" text-anchor="middle" fill="#333">${esc(String(v))}</text>`);
    chunk.forEach((l, i) => {
      const { color, dash } = style(i);
      const sorted = numeric ? [...l.points].sort((a, b) => (a.x as number) - (b.x as number)) : l.points;
      body.push(`<path class="series" d="${path(sorted)}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}><title>${esc(l.label)}</title></path>`);
      for (const p of sorted) {
        const px = n2(xOf(p.x));
        body.push(`<circle cx="${px}" cy="${n2(y(p.y))}" r="3.5" fill="${color}"/>`);
        if (p.low !== null && p.high !== null) body.push(`<path class="interval" d="M${px},${n2(y(p.low))}V${n2(y(p.high))}" stroke="${color}" stroke-width="1.5"/>`);
      }
    });
    body.push(...axisTitles(xTitle, yTitle, pw, ph), `</g>`, ...legend(chunk.map((l) => l.label), M.left + pw + 20, oy + 10), `</g>`);
  });
  return frame(title, subtitle, body, M.top + chunks.length * step - 16, width);
}
