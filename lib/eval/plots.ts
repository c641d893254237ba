/**
 * Hand-written SVG plots for the evaluation report (no plotting dependency): ROC curve, genuine vs
 * impostor distance histogram, and a calibration reliability diagram. Each returns a standalone SVG
 * document string that also works inline in HTML.
 */
import type { ReliabilityBin } from './calibration';
import type { RocPoint } from './metrics';

const WIDTH = 480;
const HEIGHT = 360;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 46 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
const GENUINE = '#1f77b4';
const IMPOSTOR = '#d62728';
const ACCENT = '#2ca02c';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const num = (v: number) => Number(v.toFixed(2));

interface Axis {
  min: number;
  max: number;
  log?: boolean;
}

function project(v: number, axis: Axis, length: number): number {
  if (axis.log) {
    const lv = Math.log10(Math.max(v, axis.min));
    return ((lv - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min))) * length;
  }
  return ((v - axis.min) / (axis.max - axis.min || 1)) * length;
}

const px = (v: number, axis: Axis) => num(MARGIN.left + project(v, axis, PLOT_W));
const py = (v: number, axis: Axis) => num(MARGIN.top + PLOT_H - project(v, axis, PLOT_H));

function frame(title: string, xLabel: string, yLabel: string, xTicks: { v: number; label: string }[], yTicks: { v: number; label: string }[], x: Axis, y: Axis): string {
  const parts: string[] = [];
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="#fff" stroke="#444"/>`);
  for (const t of xTicks) {
    const X = px(t.v, x);
    parts.push(`<line x1="${X}" y1="${MARGIN.top}" x2="${X}" y2="${MARGIN.top + PLOT_H}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${X}" y="${MARGIN.top + PLOT_H + 16}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  for (const t of yTicks) {
    const Y = py(t.v, y);
    parts.push(`<line x1="${MARGIN.left}" y1="${Y}" x2="${MARGIN.left + PLOT_W}" y2="${Y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${num(Y + 4)}" text-anchor="end">${escapeXml(t.label)}</text>`);
  }
  parts.push(`<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold" font-size="14">${escapeXml(title)}</text>`);
  parts.push(`<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  return parts.join('\n');
}

function svg(body: string, label: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
    `font-family="Helvetica, Arial, sans-serif" font-size="11" role="img" aria-label="${escapeXml(label)}">\n${body}\n</svg>\n`
  );
}

function legend(items: { color: string; label: string; dashed?: boolean }[], x: number, y: number): string {
  return items
    .map((it, i) => {
      const Y = y + i * 16;
      const dash = it.dashed ? ' stroke-dasharray="5 3"' : '';
      return `<line x1="${x}" y1="${Y}" x2="${x + 22}" y2="${Y}" stroke="${it.color}" stroke-width="2.5"${dash}/><text x="${x + 28}" y="${Y + 4}">${escapeXml(it.label)}</text>`;
    })
    .join('\n');
}

export interface RocPlotOptions {
  /** Log-scaled FAR axis (down to `minFar`), which shows the low-FAR region that matters for verification. */
  logFar?: boolean;
  minFar?: number;
  /** Operating points to mark, e.g. TAR at FAR targets or the chosen threshold. */
  markers?: { far: number; tar: number; label: string; labelLeft?: boolean }[];
  title?: string;
}

export function rocSvg(points: RocPoint[], opts: RocPlotOptions = {}): string {
  const x: Axis = opts.logFar ? { min: opts.minFar ?? 1e-3, max: 1, log: true } : { min: 0, max: 1 };
  const y: Axis = { min: 0, max: 1 };
  const xTicks = opts.logFar
    ? [-4, -3, -2, -1, 0].map((e) => ({ v: 10 ** e, label: e === 0 ? '1' : `1e${e}` })).filter((t) => t.v >= x.min)
    : [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ v, label: fmt(v) }));
  const yTicks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ v, label: fmt(v) }));
  const parts = [frame(opts.title ?? 'ROC (test pairs)', opts.logFar ? 'false accept rate (log scale)' : 'false accept rate', 'true accept rate', xTicks, yTicks, x, y)];
  if (!opts.logFar) {
    parts.push(`<line x1="${px(0, x)}" y1="${py(0, y)}" x2="${px(1, x)}" y2="${py(1, y)}" stroke="#999" stroke-dasharray="4 4"/>`);
  }
  // A step curve: from one threshold to the next, FAR and TAR move together (ties move diagonally).
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.far, x)} ${py(p.tar, y)}`).join(' ');
  parts.push(`<path d="${path}" fill="none" stroke="${GENUINE}" stroke-width="2"/>`);
  for (const m of opts.markers ?? []) {
    if (opts.logFar && m.far < x.min) continue;
    const X = px(m.far, x);
    const Y = py(m.tar, y);
    parts.push(`<circle cx="${X}" cy="${Y}" r="4" fill="${ACCENT}" stroke="#fff"/>`);
    // Labels near the right edge go on the left of their point so they are not cut off.
    const left = m.labelLeft ?? X > MARGIN.left + 0.7 * PLOT_W;
    const label = left
      ? `<text x="${num(X - 7)}" y="${num(Y - 7)}" text-anchor="end" fill="#225522">${escapeXml(m.label)}</text>`
      : `<text x="${num(X + 7)}" y="${num(Y + 14)}" fill="#225522">${escapeXml(m.label)}</text>`;
    parts.push(label);
  }
  return svg(parts.join('\n'), opts.title ?? 'ROC curve');
}

export interface HistogramOptions {
  bins?: number;
  /** Vertical lines, e.g. the chosen threshold. */
  thresholds?: { value: number; label: string }[];
  title?: string;
}

/** Genuine and impostor distance histograms, each normalised to its own pair count (fractions), overlaid. */
export function distanceHistogramSvg(genuine: number[], impostor: number[], opts: HistogramOptions = {}): string {
  const all = [...genuine, ...impostor];
  const binCount = opts.bins ?? 40;
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  for (const t of opts.thresholds ?? []) {
    lo = Math.min(lo, t.value);
    hi = Math.max(hi, t.value);
  }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / binCount;
  const histogram = (values: number[]) => {
    const h = new Array<number>(binCount).fill(0);
    for (const v of values) h[Math.min(binCount - 1, Math.floor((v - lo) / width))]++;
    return h.map((c) => (values.length ? c / values.length : 0));
  };
  const hg = histogram(genuine);
  const hi_ = histogram(impostor);
  // Headroom above the tallest bar keeps the legend clear of the bars.
  const top = Math.max(...hg, ...hi_, 1e-9) * 1.4;
  const x: Axis = { min: lo, max: hi };
  const y: Axis = { min: 0, max: top };
  const xTicks = niceTicks(lo, hi, 6).map((v) => ({ v, label: v.toFixed(2) }));
  const yTicks = niceTicks(0, top, 5).map((v) => ({ v, label: v.toFixed(2) }));
  const parts = [frame(opts.title ?? 'Distance distribution (test pairs)', 'Euclidean distance between embeddings', 'fraction of pairs', xTicks, yTicks, x, y)];
  const bars = (h: number[], color: string) =>
    h
      .map((f, i) => {
        if (f === 0) return '';
        const X0 = px(lo + i * width, x);
        const X1 = px(lo + (i + 1) * width, x);
        const Y = py(f, y);
        return `<rect x="${X0}" y="${Y}" width="${num(X1 - X0)}" height="${num(py(0, y) - Y)}" fill="${color}" fill-opacity="0.45" stroke="${color}" stroke-width="0.5"/>`;
      })
      .join('');
  parts.push(bars(hi_, IMPOSTOR));
  parts.push(bars(hg, GENUINE));
  for (const t of opts.thresholds ?? []) {
    const X = px(t.value, x);
    parts.push(`<line x1="${X}" y1="${MARGIN.top}" x2="${X}" y2="${MARGIN.top + PLOT_H}" stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/>`);
    const anchor = X > MARGIN.left + 0.7 * PLOT_W ? `x="${num(X - 4)}" text-anchor="end"` : `x="${num(X + 4)}"`;
    parts.push(`<text ${anchor} y="${MARGIN.top + 12}">${escapeXml(t.label)}</text>`);
  }
  parts.push(
    legend(
      [
        { color: GENUINE, label: `genuine (same person), n=${genuine.length}` },
        { color: IMPOSTOR, label: `impostor (different), n=${impostor.length}` },
      ],
      MARGIN.left + 10,
      MARGIN.top + 14,
    ),
  );
  return svg(parts.join('\n'), opts.title ?? 'Distance histogram');
}

/** Reliability diagram: mean predicted P(same) against the observed fraction of genuine pairs per bin. */
export function reliabilitySvg(bins: ReliabilityBin[], title = 'Calibration on test pairs'): string {
  const x: Axis = { min: 0, max: 1 };
  const y: Axis = { min: 0, max: 1 };
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ v, label: fmt(v) }));
  const parts = [frame(title, 'predicted P(same person)', 'observed fraction genuine', ticks, ticks, x, y)];
  parts.push(`<line x1="${px(0, x)}" y1="${py(0, y)}" x2="${px(1, x)}" y2="${py(1, y)}" stroke="#999" stroke-dasharray="4 4"/>`);
  const filled = bins.filter((b) => b.count > 0);
  const maxCount = Math.max(...filled.map((b) => b.count), 1);
  for (const b of filled) {
    const r = num(3 + 7 * Math.sqrt(b.count / maxCount));
    parts.push(`<circle cx="${px(b.meanPredicted, x)}" cy="${py(b.fractionGenuine, y)}" r="${r}" fill="${GENUINE}" fill-opacity="0.6"><title>${b.count} pairs</title></circle>`);
  }
  if (filled.length > 1) {
    parts.push(`<path d="${filled.map((b, i) => `${i ? 'L' : 'M'}${px(b.meanPredicted, x)} ${py(b.fractionGenuine, y)}`).join(' ')}" fill="none" stroke="${GENUINE}"/>`);
  }
  parts.push(`<text x="${MARGIN.left + 8}" y="${MARGIN.top + 16}" fill="#555">circle area ~ pairs in bin</text>`);
  return svg(parts.join('\n'), title);
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
