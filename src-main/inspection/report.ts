// Inspection reports for people who were not at the screen: a self-contained HTML page (summary,
// score histogram with the threshold, flagged images with their heatmaps embedded, every row) and
// a CSV of every result. Rows are streamed from the store, so a 10,000-image report never sits in
// memory as objects; only flagged heatmaps (at most MAX_EMBEDDED) are embedded.
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { once } from 'node:events';
import { NotFoundError } from '../shared/errors.js';
import { modelExpectation, mostlyFlaggedWarning } from '../shared/model-quality.js';
import type { StoredResult } from '../store/repos/results.repo.js';
import type { Store } from '../store/store.js';
import { summarise } from './inspect.js';

/** Flagged heatmaps embedded as data URIs; beyond that the page lists the rows only. */
export const MAX_EMBEDDED = 60;
const BINS = 20;

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function finish(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** Score histogram (0..1 in BINS bins) as inline SVG, with the 0.5 threshold and unsure band. */
export function histogramSvg(scores: number[], unsureBand: number): string {
  const counts = new Array<number>(BINS).fill(0);
  for (const s of scores) counts[Math.min(BINS - 1, Math.floor(s * BINS))]!++;
  const max = Math.max(1, ...counts);
  const [w, h, left, bottom, top] = [640, 220, 40, 30, 10];
  const plotW = w - left - 10;
  const plotH = h - bottom - top;
  const x = (v: number) => left + v * plotW;
  const bars = counts
    .map((c, i) => {
      const barH = (c / max) * plotH;
      const mid = (i + 0.5) / BINS;
      const colour =
        mid >= 0.5 + unsureBand ? '#d62728' : mid < 0.5 - unsureBand ? '#2ca02c' : '#ff9f1c';
      return `<rect x="${x(i / BINS) + 1}" y="${top + plotH - barH}" width="${plotW / BINS - 2}" height="${barH}" fill="${colour}"><title>${(i / BINS).toFixed(2)}–${((i + 1) / BINS).toFixed(2)}: ${c}</title></rect>`;
    })
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((t) => `<text x="${x(t)}" y="${h - 10}" font-size="11" text-anchor="middle">${t}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="score histogram">
  <rect x="${x(0.5 - unsureBand)}" y="${top}" width="${x(0.5 + unsureBand) - x(0.5 - unsureBand)}" height="${plotH}" fill="#ff9f1c" opacity="0.15"/>
  ${bars}
  <line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>
  <line x1="${x(0.5)}" y1="${top}" x2="${x(0.5)}" y2="${top + plotH}" stroke="#000" stroke-dasharray="4 3"/>
  <text x="${x(0.5) + 4}" y="${top + 12}" font-size="11">threshold 0.5</text>
  <text x="${left - 6}" y="${top + 10}" font-size="11" text-anchor="end">${max}</text>
  <text x="${left - 6}" y="${top + plotH}" font-size="11" text-anchor="end">0</text>
  ${ticks}
</svg>`;
}

function dataUri(path: string | null): string | null {
  if (!path || !existsSync(path)) return null;
  return `data:image/png;base64,${readFileSync(path).toString('base64')}`;
}

export async function writeCsvReport(
  store: Store,
  inspectionId: number,
  file: string,
): Promise<number> {
  if (!store.inspections.get(inspectionId))
    throw new NotFoundError(`No inspection ${inspectionId}.`);
  await mkdir(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  let rows = 0;
  await write(
    out,
    'result_id,path,score,raw_score,decision,error,heatmap,image_id,verdict,reviewed_by,reviewed_at,note\n',
  );
  for (const r of store.results.iterate(inspectionId)) {
    await write(
      out,
      [
        r.id,
        r.path,
        r.score,
        r.rawScore,
        r.decision,
        r.error,
        r.heatmapPath,
        r.imageId,
        r.review?.verdict ?? null,
        r.review?.who ?? null,
        r.review?.at ?? null,
        r.review?.note ?? null,
      ]
        .map(csvCell)
        .join(',') + '\n',
    );
    rows++;
  }
  await finish(out);
  return rows;
}

function row(r: StoredResult): string {
  const cls =
    r.decision === 'DEFECT'
      ? 'defect'
      : r.decision === 'UNSURE'
        ? 'unsure'
        : r.error
          ? 'error'
          : '';
  return `<tr class="${cls}"><td>${r.id}</td><td title="${escapeHtml(r.path)}">${escapeHtml(basename(r.path))}</td><td>${r.score === null ? '' : r.score.toFixed(3)}</td><td>${r.decision ?? ''}</td><td>${r.review ? `${r.review.verdict} (${escapeHtml(r.review.who)})` : ''}</td><td>${escapeHtml(r.error ?? '')}</td></tr>\n`;
}

export async function writeHtmlReport(
  store: Store,
  inspectionId: number,
  file: string,
): Promise<void> {
  const inspection = store.inspections.get(inspectionId);
  if (!inspection) throw new NotFoundError(`No inspection ${inspectionId}.`);
  const summary = summarise(store, inspectionId);
  const model = inspection.modelId !== null ? store.models.get(inspection.modelId) : undefined;
  const band = inspection.unsureBand ?? 0.05;
  // What the Inspect view says beside the results, for whoever reads the report instead.
  const warnings = [
    modelExpectation(model?.metrics)?.warning ?? null,
    mostlyFlaggedWarning(summary),
  ].filter((w): w is string => w !== null);
  await mkdir(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  const title = `Inspection ${inspectionId}: ${inspection.objectType ?? ''}`;
  await write(
    out,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.meta{color:#555} table{border-collapse:collapse} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
.counts td{font-size:18px;font-weight:600;padding-right:24px} .counts th{font-weight:400;color:#555}
tr.defect td:nth-child(4){color:#d62728;font-weight:600} tr.unsure td:nth-child(4){color:#c77700;font-weight:600}
tr.error td{color:#888}
.grid{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0;width:200px} figure img{width:200px;height:200px;object-fit:contain;background:#000;border:1px solid #ccc}
figcaption{font-size:12px;word-break:break-all}
.warning{border-left:4px solid #d62728;background:#fdf0f0;padding:8px 12px;max-width:900px}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<div class="meta">Folder ${escapeHtml(inspection.folder)} · started ${escapeHtml(inspection.createdAt)}${inspection.finishedAt ? ` · finished ${escapeHtml(inspection.finishedAt)}` : ''}<br>
Scored by ${model ? `model ${model.id} (${escapeHtml(model.name)})` : "zero-shot (the folder's own images as references; no model for this type yet)"} · raw threshold ${inspection.threshold?.toPrecision(4) ?? '?'} (shown as 0.5) · unsure band 0.5 ± ${band}</div>
<h2>Summary</h2>
<table class="counts"><tr><th>files</th><th>DEFECT</th><th>UNSURE</th><th>OK</th><th>unreadable</th></tr>
<tr><td>${summary.scored + summary.failed}</td><td>${summary.flagged}</td><td>${summary.unsure}</td><td>${summary.ok}</td><td>${summary.failed}</td></tr></table>
${warnings.map((w) => `<p class="warning">${escapeHtml(w)}</p>`).join('\n')}
<h2>Score histogram</h2>
${histogramSvg(store.results.scores(inspectionId), band)}
<h2>Flagged images (worst first)</h2><div class="grid">
`,
  );
  let embedded = 0;
  let flagged = 0;
  for (const r of store.results.iterate(inspectionId)) {
    if (r.decision !== 'DEFECT' && r.decision !== 'UNSURE') continue;
    flagged++;
    if (embedded >= MAX_EMBEDDED) continue;
    const uri = dataUri(r.heatmapPath);
    embedded++;
    await write(
      out,
      `<figure>${uri ? `<img src="${uri}" alt="heatmap of ${escapeHtml(basename(r.path))}">` : '<div>(no heatmap)</div>'}<figcaption>${r.decision} ${r.score!.toFixed(3)} · ${escapeHtml(basename(r.path))}</figcaption></figure>\n`,
    );
  }
  if (flagged === 0) await write(out, '<p>No image was flagged.</p>');
  if (flagged > embedded)
    await write(out, `<p>${flagged - embedded} more flagged images are listed below.</p>`);
  await write(
    out,
    `</div><h2>All results</h2><table><tr><th>id</th><th>file</th><th>score</th><th>decision</th><th>verdict</th><th>problem</th></tr>\n`,
  );
  for (const r of store.results.iterate(inspectionId)) await write(out, row(r));
  await write(out, '</table></body></html>\n');
  await finish(out);
}
