/** The self-contained report.html a person opens: headline numbers, tables and inline SVG plots. */
import { distanceHistogramSvg, escapeXml, reliabilitySvg, rocSvg } from './plots';
import type { EvalReport } from './types';
import type { DistanceStats } from './metrics';

const pct = (v: number, digits = 2) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : '—');
const dec = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
const farLabel = (f: number) => (f >= 0.1 ? f.toFixed(1) : f.toExponential(0).replace('e-', 'e-'));
const esc = (s: unknown) => escapeXml(String(s ?? '—'));

export interface ReportPlots {
  roc: string;
  rocLog: string;
  histogram: string;
  reliability: string;
}

/** The SVG plots of a report (also written next to report.json as files). */
export function reportPlots(report: EvalReport): ReportPlots {
  const t = report.test;
  const markers = t.tarAtFar.filter((p) => p.far > 0 || p.tar > 0).map((p) => ({ far: p.far, tar: p.tar, label: `FAR ${farLabel(p.targetFar)}` }));
  const chosen = { far: t.far, tar: t.tar, label: 'chosen threshold', labelLeft: true };
  const impostorCount = report.pairs.test.impostor;
  return {
    roc: rocSvg(t.roc, { markers: [{ ...chosen, labelLeft: undefined }] }),
    rocLog: rocSvg(t.roc, {
      logFar: true,
      minFar: Math.min(1e-3, 10 ** Math.floor(Math.log10(1 / Math.max(impostorCount, 1)))),
      markers: [...markers, chosen],
      title: 'ROC, low-FAR region (test pairs)',
    }),
    histogram: distanceHistogramSvg(
      report.distances.test.filter((p) => p.label === 1).map((p) => p.distance),
      report.distances.test.filter((p) => p.label === 0).map((p) => p.distance),
      { thresholds: [{ value: report.threshold.value, label: `threshold ${report.threshold.value.toFixed(3)}` }] },
    ),
    reliability: reliabilitySvg(report.calibration.test.bins),
  };
}

function statsRow(name: string, s: DistanceStats): string {
  return `<tr><th>${name}</th><td>${s.count}</td><td>${dec(s.mean)}</td><td>${dec(s.std)}</td><td>${dec(s.min)}</td><td>${dec(s.p5)}</td><td>${dec(s.median)}</td><td>${dec(s.p95)}</td><td>${dec(s.max)}</td></tr>`;
}

/** Things a reader must know before trusting the headline numbers. */
export function reportWarnings(report: EvalReport): string[] {
  const out: string[] = [];
  const t = report.test;
  if (t.far >= 0.99) out.push('The chosen threshold accepts (almost) every test pair, impostors included: accuracy here only reflects how many pairs are genuine. Judge the model by ROC AUC, EER and TAR at FAR.');
  else if (t.tar <= 0.01) out.push('The chosen threshold rejects (almost) every test pair: accuracy here only reflects how many pairs are impostors. Judge the model by ROC AUC, EER and TAR at FAR.');
  for (const [name, s] of [['validation', report.pairs.val], ['test', report.pairs.test]] as const) {
    const share = s.genuine / Math.max(1, s.pairs);
    if (share > 0.7 || share < 0.3) out.push(`The ${name} pairs are imbalanced (${(share * 100).toFixed(0)}% genuine), so accuracy favours always answering "${share > 0.5 ? 'same' : 'different'}".`);
  }
  return out;
}

export function renderReportHtml(report: EvalReport, plots: ReportPlots = reportPlots(report)): string {
  const { metrics: m, test: t, pairs, lineage: l, threshold, farThreshold: ft, calibration: c } = report;
  const title = `Face verification evaluation${l.model ? ` — ${l.model}` : ''}${l.run ? ` (run ${l.run})` : ''}`;
  const warnings = reportWarnings;
  const card = (label: string, value: string, note: string) => `<div class="card"><div class="value">${value}</div><div class="label">${label}</div><div class="note">${note}</div></div>`;
  const idCount = (n: number | null) => (n === null ? '—' : String(n));

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f; background: #f6f7f9; }
  main { max-width: 1020px; margin: 0 auto; padding: 24px 28px 48px; }
  h1 { font-size: 24px; margin: 0 0 4px; }
  h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #d8dbe0; padding-bottom: 4px; }
  p.lead { font-size: 15px; line-height: 1.5; background: #fff; border-left: 4px solid #1f77b4; padding: 10px 14px; }
  .meta { color: #666; font-size: 13px; }
  p.warn { font-size: 14px; background: #fff8e1; border-left: 4px solid #f0a500; padding: 8px 14px; }
  .cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
  @media (max-width: 640px) { .cards { grid-template-columns: 1fr; } }
  .card { background: #fff; border: 1px solid #d8dbe0; border-radius: 8px; padding: 12px 14px; }
  .card .value { font-size: 24px; font-weight: 600; }
  .card .label { font-size: 13px; font-weight: 600; margin-top: 2px; }
  .card .note { font-size: 12px; color: #666; margin-top: 4px; }
  table { border-collapse: collapse; background: #fff; font-size: 13px; margin: 6px 0 10px; }
  th, td { border: 1px solid #d8dbe0; padding: 5px 9px; text-align: right; }
  th { background: #eef0f3; } td:first-child, th:first-child { text-align: left; }
  table.kv td, th.left { text-align: left; }
  code { font-size: 12px; background: #eef0f3; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
  .plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 12px; }
  .plots figure { margin: 0; background: #fff; border: 1px solid #d8dbe0; border-radius: 8px; padding: 6px; }
  .plots figcaption { font-size: 12px; color: #555; padding: 2px 6px 6px; }
  details { margin: 6px 0; } summary { cursor: pointer; font-size: 14px; }
</style>
</head>
<body><main>
<h1>${esc(title)}</h1>
<div class="meta">Created ${esc(report.createdAt)} · dataset ${esc(l.dataset)} · config ${esc(l.config)}</div>

<p class="lead">Two faces are called the <b>same person</b> when the Euclidean distance between their embeddings is at most
<b>${dec(threshold.value)}</b>. That threshold was chosen on ${pairs.val.pairs} validation pairs (accuracy there ${pct(threshold.valAccuracy)}).
On ${pairs.test.pairs} held-out test pairs it is right ${pct(m.accuracy)} of the time: it accepts ${pct(t.tar)} of genuine pairs and wrongly
accepts ${pct(t.far)} of impostor pairs.</p>

${warnings(report).map((w) => `<p class="warn">${esc(w)}</p>`).join('\n')}

<div class="cards">
${card('Test accuracy', pct(m.accuracy), 'at the validation-chosen threshold')}
${card('ROC AUC', dec(m.rocAuc), 'test; 1 = perfect, 0.5 = chance')}
${card('Equal error rate', pct(m.eer), `FAR = FRR at distance ${dec(t.eerThreshold)}`)}
${card('10-fold accuracy', `${pct(m.kFoldAccuracy)}`, `± ${pct(m.kFoldStd)} (LFW protocol, test)`)}
${card('TAR @ FAR 1e-3', pct(m.tarAtFar1e3), `TAR @ 1e-2 ${pct(m.tarAtFar1e2)} · @ 1e-1 ${pct(m.tarAtFar1e1)}`)}
${card('Confidence calibration', `ECE ${dec(m.ece, 3)}`, `Brier ${dec(m.brier, 3)} (test; lower is better)`)}
</div>

<h2>Plots</h2>
<div class="plots">
<figure>${plots.roc}<figcaption>ROC on test pairs; dot = the validation-chosen threshold.</figcaption></figure>
<figure>${plots.rocLog}<figcaption>The same curve with FAR on a log scale; dots = TAR at FAR targets.</figcaption></figure>
<figure>${plots.histogram}<figcaption>Distances of genuine and impostor test pairs; dashed line = threshold.</figcaption></figure>
<figure>${plots.reliability}<figcaption>Predicted P(same) against what happened on test pairs; on the diagonal = well calibrated.</figcaption></figure>
</div>

<h2>Operating points</h2>
<table>
<tr><th>Threshold</th><th>chosen on</th><th>distance ≤</th><th>test accuracy</th><th>test TAR</th><th>test FAR</th></tr>
<tr><td>Maximum validation accuracy</td><td>validation</td><td>${dec(threshold.value)}</td><td>${pct(t.accuracy)}</td><td>${pct(t.tar)}</td><td>${pct(t.far)}</td></tr>
<tr><td>Validation FAR ≤ ${farLabel(ft.targetFar)} (val TAR ${pct(ft.valTar)}, val FAR ${pct(ft.valFar)})</td><td>validation</td><td>${dec(ft.value)}</td><td>—</td><td>${pct(ft.testTar)}</td><td>${pct(ft.testFar)}</td></tr>
<tr><td>Equal error rate</td><td>test</td><td>${dec(t.eerThreshold)}</td><td>—</td><td>${pct(1 - t.eer)}</td><td>${pct(t.eer)}</td></tr>
</table>

<h2>TAR at FAR (test ROC)</h2>
<table>
<tr><th>FAR target</th><th>TAR</th><th>FAR reached</th><th>distance ≤</th></tr>
${t.tarAtFar.map((p) => `<tr><td>${farLabel(p.targetFar)}</td><td>${pct(p.tar)}</td><td>${pct(p.far, 3)}</td><td>${dec(p.threshold)}</td></tr>`).join('\n')}
</table>
<div class="meta">With ${pairs.test.impostor} impostor pairs the smallest non-zero FAR is ${pct(1 / Math.max(1, pairs.test.impostor), 3)}; targets below it are met only by accepting no impostor.</div>

<h2>Distances</h2>
<table>
<tr><th>pairs</th><th>count</th><th>mean</th><th>std</th><th>min</th><th>5%</th><th>median</th><th>95%</th><th>max</th></tr>
${statsRow('test genuine', t.distanceStats.genuine)}
${statsRow('test impostor', t.distanceStats.impostor)}
${statsRow('validation genuine', report.val.distanceStats.genuine)}
${statsRow('validation impostor', report.val.distanceStats.impostor)}
</table>

<h2>Confidence</h2>
<p>Confidence is P(same person) = 1 / (1 + exp(−(${dec(c.intercept)} ${c.slope < 0 ? '−' : '+'} ${dec(Math.abs(c.slope))} × distance))), a logistic fit on the validation pairs
(${c.converged ? `converged in ${c.iterations} Newton steps` : `did not converge in ${c.iterations} steps`}).</p>
<table>
<tr><th>pairs</th><th>Brier score</th><th>ECE</th><th>log loss</th></tr>
<tr><td>validation (fitted on)</td><td>${dec(c.val.brier)}</td><td>${dec(c.val.ece)}</td><td>${dec(c.val.logLoss)}</td></tr>
<tr><td>test</td><td>${dec(c.test.brier)}</td><td>${dec(c.test.ece)}</td><td>${dec(c.test.logLoss)}</td></tr>
</table>
<details><summary>Reliability bins (test)</summary>
<table>
<tr><th>predicted P(same)</th><th>pairs</th><th>mean predicted</th><th>fraction genuine</th></tr>
${c.test.bins.map((b) => `<tr><td>${b.lower.toFixed(1)}–${b.upper.toFixed(1)}</td><td>${b.count}</td><td>${dec(b.meanPredicted, 3)}</td><td>${dec(b.fractionGenuine, 3)}</td></tr>`).join('\n')}
</table></details>

<h2>10-fold accuracy (LFW protocol)</h2>
<p>Each fold's threshold is chosen on the other nine folds of the test pairs. Mean ${pct(t.kFold.mean)}, standard deviation ${pct(t.kFold.std)}.</p>
<details><summary>Per-fold results</summary>
<table>
<tr><th>fold</th><th>pairs</th><th>threshold</th><th>accuracy</th></tr>
${t.kFold.folds.map((f, i) => `<tr><td>${i + 1}</td><td>${f.pairs}</td><td>${dec(f.threshold)}</td><td>${pct(f.accuracy)}</td></tr>`).join('\n')}
</table></details>

<h2>Data and lineage</h2>
<table>
<tr><th>set</th><th>pairs</th><th>genuine</th><th>impostor</th><th>images</th><th>identities</th><th class="left">checksum (sha256)</th></tr>
<tr><td>validation</td><td>${pairs.val.pairs}</td><td>${pairs.val.genuine}</td><td>${pairs.val.impostor}</td><td>${pairs.val.images}</td><td>${idCount(pairs.val.identities)}</td><td><code>${esc(pairs.val.checksum)}</code></td></tr>
<tr><td>test</td><td>${pairs.test.pairs}</td><td>${pairs.test.genuine}</td><td>${pairs.test.impostor}</td><td>${pairs.test.images}</td><td>${idCount(pairs.test.identities)}</td><td><code>${esc(pairs.test.checksum)}</code></td></tr>
</table>
<table class="kv">
<tr><th>run</th><td>${esc(l.run)}</td></tr>
<tr><th>model</th><td>${esc(l.model)}</td></tr>
<tr><th>dataset</th><td>${esc(l.dataset)}</td></tr>
<tr><th>dataset manifest checksum</th><td><code>${esc(l.datasetManifestChecksum)}</code></td></tr>
<tr><th>config</th><td>${esc(l.config)}</td></tr>
<tr><th>embeddings</th><td>${report.embedding.images} images, dimension ${report.embedding.dimension}, ${report.embedding.seconds.toFixed(1)} s</td></tr>
</table>
<p class="meta">report.json beside this page holds every pair with its distance, so each number here can be recomputed.</p>
</main></body>
</html>
`;
}
