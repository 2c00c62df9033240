import { type ScaleLinear, type ScaleLogarithmic, scaleBand, scaleLinear, scaleLog, scalePoint } from "d3-scale";
import { curveLinear, line } from "d3-shape";

/**
 * Static SVG charts drawn with d3-scale and d3-shape (no DOM): the path data
 * comes from d3's line generator, the rest is written as SVG text. Numbers
 * are rounded to 2 decimals, so the same data gives the same bytes.
 */

/** Tableau 10, the categorical palette of d3-scale-chromatic's schemeTableau10. */
export const PALETTE = ["#4e79a7", "#f28e2c", "#e15759", "#76b7b2", "#59a14f", "#edc949", "#af7aa1", "#ff9da7", "#9c755f", "#bab0ab"];
/** Dashes for series beyond the palette's length, so every series stays distinguishable. */
const DASHES = ["", "6 3", "2 3", "8 3 2 3"];

export interface Series {
  label: string;
  /** Latencies in ms, ascending. */
  latMs: Float64Array;
}

const W = 900;
const H = 520;
const M = { top: 64, right: 250, bottom: 64, left: 80 };
const FONT = `font-family="Helvetica, Arial, sans-serif"`;

/** A label cut to fit its column, with an ellipsis. */
function fit(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

function frame(title: string, subtitle: string, body: string[], height = H): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" ${FONT}>`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="28" font-size="18" font-weight="bold" fill="#222">${esc(title)}</text>`,
    `<text x="${M.left}" y="48" font-size="12" fill="#555">${esc(subtitle)}</text>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

function style(i: number): { color: string; dash: string } {
  return { color: PALETTE[i % PALETTE.length]!, dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length]! };
}

function legend(labels: string[], x: number, y: number): string[] {
  const out: string[] = [`<g class="legend">`];
  labels.forEach((label, i) => {
    const { color, dash } = style(i);
    const ly = y + i * 20;
    out.push(
      `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`,
      `<text x="${x + 30}" y="${ly + 4}" font-size="12" fill="#222">${esc(fit(label, 32))}</text>`,
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

/** The latency CDF of every series on one chart, log time axis. */
export function cdfChart(title: string, subtitle: string, series: Series[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = latencyAxis(series, pw);
  const y = scaleLinear().domain([0, 1]).range([ph, 0]);
  const body = [`<g transform="translate(${M.left},${M.top})">`, ...xAxisLog(x, ph), ...yAxis(y, [0, 0.2, 0.4, 0.6, 0.8, 1], (v) => `${Math.round(v * 100)}%`, pw), ...retryMarkers(x, ph)];
  const px = (p: { x: number; f: number }): [number, number] => [x(Math.max(p.x, x.domain()[0]!)), y(p.f)];
  series.forEach((s, i) => {
    const { color, dash } = style(i);
    const pts = ecdfPoints(s.latMs);
    if (pts.length === 0) return;
    const d = stepPath([{ x: pts[0]!.x, f: 0 }, ...pts, { x: x.domain()[1]!, f: 1 }].map(px));
    body.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}><title>${esc(s.label)}</title></path>`);
  });
  body.push(...axisTitles("lookup latency (log scale)", "share of lookups done", pw, ph), `</g>`, ...legend(seriesLabels(series), W - M.right + 20, M.top + 10));
  return frame(title, subtitle, body);
}

/** The tail: share of lookups slower than t, both axes log, so a 0.1% step at 5 s is as visible as a 20% one. */
export function tailChart(title: string, subtitle: string, series: Series[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = latencyAxis(series, pw);
  const maxN = Math.max(1, ...series.map((s) => s.latMs.length));
  const floor = 10 ** Math.floor(Math.log10(1 / maxN));
  const y = scaleLog().domain([floor, 1]).range([ph, 0]).clamp(true);
  const ticks: number[] = [];
  for (let v = 1; v >= floor * 0.999; v /= 10) ticks.push(v);
  const body = [`<g transform="translate(${M.left},${M.top})">`, ...xAxisLog(x, ph), ...yAxis(y, ticks, (v) => `${Number((v * 100).toPrecision(3))}%`, pw), ...retryMarkers(x, ph)];
  const px = (p: { x: number; f: number }): [number, number] => [x(Math.max(p.x, x.domain()[0]!)), y(1 - p.f)];
  series.forEach((s, i) => {
    const { color, dash } = style(i);
    // P(latency > x) is drawn until it reaches 0 (the slowest lookup).
    const pts = ecdfPoints(s.latMs).filter((p) => p.f < 1);
    const last = s.latMs.length > 0 ? s.latMs[s.latMs.length - 1]! : 0;
    if (s.latMs.length === 0) return;
    const d = stepPath([{ x: s.latMs[0]!, f: 0 }, ...pts, { x: last, f: 1 - floor }].map(px));
    body.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}><title>${esc(s.label)}</title></path>`);
  });
  body.push(...axisTitles("lookup latency t (log scale)", "share of lookups slower than t (log scale)", pw, ph), `</g>`, ...legend(seriesLabels(series), W - M.right + 20, M.top + 10));
  return frame(title, subtitle, body);
}

export interface IntervalBar {
  label: string;
  value: number;
  low: number | null;
  high: number | null;
}

/** Horizontal bars of a share per variant with their 95% intervals as whiskers. */
export function intervalBarChart(title: string, subtitle: string, xTitle: string, bars: IntervalBar[]): string {
  const rowH = 30;
  const left = 210;
  const pw = W - left - 80;
  const ph = bars.length * rowH;
  const height = M.top + ph + M.bottom;
  const top = Math.max(0.001, ...bars.map((b) => Math.max(b.value, b.high ?? 0))) * 1.15;
  const x = scaleLinear().domain([0, top]).range([0, pw]).nice();
  const y = scaleBand().domain(bars.map((b) => b.label)).range([0, ph]).padding(0.25);
  const pct = (v: number) => `${n2(v * 100)}%`;
  const body = [`<g transform="translate(${left},${M.top})">`];
  for (const t of x.ticks(6)) {
    const px = n2(x(t));
    body.push(`<line x1="${px}" y1="0" x2="${px}" y2="${ph}" stroke="#e0e0e0"/>`, `<text x="${px}" y="${ph + 18}" font-size="12" text-anchor="middle" fill="#333">${pct(t)}</text>`);
  }
  bars.forEach((b, i) => {
    const { color } = style(i);
    const by = y(b.label)!;
    const bh = y.bandwidth();
    const mid = n2(by + bh / 2);
    body.push(
      `<text x="-10" y="${mid}" dy="4" font-size="12" text-anchor="end" fill="#222">${esc(fit(b.label, 30))}</text>`,
      `<rect class="bar" x="0" y="${n2(by)}" width="${n2(x(b.value))}" height="${n2(bh)}" fill="${color}" fill-opacity="0.85"><title>${esc(b.label)}: ${pct(b.value)}</title></rect>`,
    );
    if (b.low !== null && b.high !== null) {
      const [lx, hx] = [n2(x(b.low)), n2(x(b.high))];
      body.push(
        `<path class="interval" d="M${lx},${mid}H${hx}M${lx},${n2(by + 4)}V${n2(by + bh - 4)}M${hx},${n2(by + 4)}V${n2(by + bh - 4)}" stroke="#222" stroke-width="1.5" fill="none"/>`,
      );
    }
    const end = Math.max(x(b.value), b.high === null ? 0 : x(b.high));
    body.push(`<text x="${n2(end + 6)}" y="${mid}" dy="4" font-size="11" fill="#444">${pct(b.value)}</text>`);
  });
  body.push(`<text x="${n2(pw / 2)}" y="${ph + 44}" font-size="13" text-anchor="middle" fill="#222">${esc(xTitle)}</text>`, `<rect x="0" y="0" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`, `</g>`);
  return frame(title, subtitle, body, height);
}

export interface LinePoint {
  x: string | number;
  y: number;
  low: number | null;
  high: number | null;
}

/** A share against a swept parameter, one line per combination of the other parameters, with 95% intervals. */
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
  const body = [`<g transform="translate(${M.left},${M.top})">`, ...yAxis(y, y.ticks(6), pct, pw)];
  for (const v of xs) {
    body.push(`<text x="${n2(xOf(v))}" y="${ph + 18}" font-size="12" text-anchor="middle" fill="#333">${esc(String(v))}</text>`);
  }
  const path = line<LinePoint>()
    .x((p) => xOf(p.x))
    .y((p) => y(p.y))
    .curve(curveLinear)
    .digits(2);
  lines.forEach((l, i) => {
    const { color, dash } = style(i);
    const sorted = numeric ? [...l.points].sort((a, b) => (a.x as number) - (b.x as number)) : l.points;
    body.push(`<path class="series" d="${path(sorted)}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}><title>${esc(l.label)}</title></path>`);
    for (const p of sorted) {
      const px = n2(xOf(p.x));
      body.push(`<circle cx="${px}" cy="${n2(y(p.y))}" r="3.5" fill="${color}"/>`);
      if (p.low !== null && p.high !== null) body.push(`<path class="interval" d="M${px},${n2(y(p.low))}V${n2(y(p.high))}" stroke="${color}" stroke-width="1.5"/>`);
    }
  });
  body.push(...axisTitles(xTitle, yTitle, pw, ph), `</g>`, ...legend(lines.map((l) => l.label), W - M.right + 20, M.top + 10));
  return frame(title, subtitle, body);
}
