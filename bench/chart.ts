/**
 * Self-contained charts of a bench report: an SVG (no scripts, no external assets) of ns per
 * translation per scenario and path on a log scale, native_walk's bars next to the WASM bars
 * they compare with; and an HTML page holding that SVG, the ratio table and the notes.
 */
import type { BenchReport, Path } from './run.js';

/** Bar order within a scenario: each native bar right above the WASM bar it is compared with. */
const ORDER: Path[] = ['native', 'batch', 'native-iotlb', 'batch-iotlb', 'batch-nocache', 'single', 'reference', 'dma'];
const COLORS: Record<Path, string> = {
  native: '#4d4d4d', batch: '#1f77b4', 'native-iotlb': '#a6a6a6', 'batch-iotlb': '#2ca02c',
  'batch-nocache': '#9467bd', single: '#ff7f0e', reference: '#d62728', dma: '#8c564b',
};
const LABELS: Record<Path, string> = {
  native: 'native walk (C)', batch: 'WASM batch (ctx+PASID caches)', 'native-iotlb': 'native IOTLB (C)', 'batch-iotlb': 'WASM batch, all caches',
  'batch-nocache': 'WASM batch, no caches', single: 'WASM single call', reference: 'TS reference walker',
  dma: 'device DMA via SimIommufd (bound nested HWPT)',
};

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmtNs = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function renderSvg(rep: BenchReport): string {
  const byScenario = new Map<string, Map<Path, number>>();
  for (const r of rep.scenarios) {
    if (!byScenario.has(r.name)) byScenario.set(r.name, new Map());
    byScenario.get(r.name)!.set(r.path, r.ns.median);
  }
  const present = ORDER.filter((p) => rep.scenarios.some((r) => r.path === p));
  const values = rep.scenarios.map((r) => r.ns.median).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 10))));
  const labelW = 230;
  const plotW = 640;
  const barH = 9;
  const gap = 2;
  const groupGap = 12;
  const top = 40 + 18 * Math.ceil(present.length / 3);
  const xOf = (v: number) => labelW + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const parts: string[] = [];
  let y = top;
  for (const [name, paths] of byScenario) {
    const bars = present.filter((p) => paths.has(p));
    const h = bars.length * (barH + gap);
    parts.push(`<text x="${labelW - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="s">${esc(name)}</text>`);
    for (const p of bars) {
      const v = paths.get(p)!;
      const w = Math.max(1, xOf(v) - labelW);
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[p]}"><title>${esc(`${name} ${p}: ${fmtNs(v)} ${p === 'dma' ? 'ns/DMA request' : 'ns/translation'}`)}</title></rect>`);
      parts.push(`<text x="${(labelW + w + 3).toFixed(1)}" y="${y + barH - 1}" class="v">${fmtNs(v)}</text>`);
      y += barH + gap;
    }
    y += groupGap;
  }
  const height = y + 30;
  const width = labelW + plotW + 60;
  const grid: string[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const gx = xOf(d).toFixed(1);
    grid.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${y}" class="g"/>`);
    grid.push(`<text x="${gx}" y="${y + 14}" text-anchor="middle" class="a">${d >= 1 ? d.toFixed(0) : d}</text>`);
    for (const k of [2, 5]) if (d * k < hi) grid.push(`<line x1="${xOf(d * k).toFixed(1)}" y1="${top - 6}" x2="${xOf(d * k).toFixed(1)}" y2="${y}" class="g2"/>`);
  }
  const legend = present.map((p, i) => {
    const lx = 10 + (i % 3) * 290;
    const ly = 30 + 18 * Math.floor(i / 3);
    return `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[p]}"/><text x="${lx + 18}" y="${ly}" class="s">${esc(LABELS[p])}</text>`;
  });
  const title = `vtd-emu: ns per translation (log scale, median of ${rep.config.reps} reps), ${rep.config.mode}${rep.config.tiny ? ' tiny' : ''}, ${rep.startedAt.slice(0, 10)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    '<style>.s{font-size:11px;fill:#222}.v{font-size:9px;fill:#444}.a{font-size:10px;fill:#555}.g{stroke:#ccc;stroke-width:1}.g2{stroke:#eee;stroke-width:1}.t{font-size:13px;font-weight:600;fill:#111}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="16" class="t">${esc(title)}</text>`,
    ...legend, ...grid, ...parts,
    `<text x="${labelW + plotW / 2}" y="${height - 4}" text-anchor="middle" class="a">ns per translation${present.includes('dma') ? ' (dma: per DMA request)' : ''}</text>`,
    '</svg>',
  ].join('\n');
}

export function renderHtml(rep: BenchReport): string {
  const m = rep.machine;
  const cell = (v: number | null, d = 2, suffix = ''): string => (v === null ? '–' : `${v.toFixed(d)}${suffix}`);
  const miss = (ok: boolean | null) => (ok === false ? ' class="miss"' : '');
  const rows = rep.ratios.map((r) => `<tr><td>${esc(r.scenario)}</td><td>${cell(r.batchNs)}</td><td>${cell(r.nativeNs)}</td>` +
    `<td${miss(r.meetsNativeTarget)}>${cell(r.wasmVsNative, 2, 'x')}</td><td>${cell(r.iotlbNs)}</td><td>${cell(r.iotlbHitPercent, 1, '%')}</td>` +
    `<td>${cell(r.nativeIotlbNs)}</td><td${miss(r.meetsNativeIotlbTarget)}>${cell(r.wasmIotlbVsNativeIotlb, 2, 'x')}</td><td>${cell(r.nocacheNs)}</td>` +
    `<td>${cell(r.singleNs, 1)}</td><td>${cell(r.referenceNs, 0)}</td><td${miss(r.meetsReferenceTarget)}>${cell(r.referenceSpeedup, 1, 'x')}</td></tr>`);
  const dmaRows = rep.scenarios.filter((r) => r.path === 'dma' && r.dma).map((r) => `<tr><td>${esc(r.name)}</td><td>${r.dma!.pasids}</td><td>${r.dma!.calls}</td>` +
    `<td>${cell(r.ns.median)}</td><td>${cell(r.perSecond / 1e6)}</td><td>${cell(r.dma!.batchNs)}</td><td>${cell(r.dma!.dmaVsBatch, 2, 'x')}</td>` +
    `<td${r.mismatches ? ' class="miss"' : ''}>${r.mismatches}/${r.checked}</td><td${r.dma!.batchMismatches ? ' class="miss"' : ''}>${r.dma!.batchMismatches}/${r.dma!.batchChecked}</td></tr>`);
  const dmaTable = dmaRows.length === 0 ? '' : `<h2>Device DMA through bound nested HWPTs</h2>
<table><tr><th>scenario</th><th>PASIDs</th><th>calls</th><th>dma ns</th><th>M DMA/s</th><th>translateBatch ns</th><th>dma/batch</th><th>vs guest mapping</th><th>vs translateBatch</th></tr>
${dmaRows.join('\n')}
</table>
`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vtd-emu benchmark ${esc(rep.startedAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}.miss{color:#b00;font-weight:600}
.meta{color:#555;font-size:13px}li{font-size:12px;color:#444}
</style></head><body>
<h1>vtd-emu translation benchmark</h1>
<p class="meta">${esc(rep.startedAt)} · ${esc(rep.config.mode)}${rep.config.tiny ? ' (tiny: numbers not meaningful)' : ''} · seed ${rep.config.seed} · node ${esc(m.node)} · ${m.cpus} × ${esc(m.cpuModel)} · load ${m.loadAverage.start} → ${m.loadAverage.end} ·
native: ${rep.native.available ? esc(`${rep.native.compiler} ${rep.native.flags?.join(' ') ?? ''}`) : esc(rep.native.note ?? 'not run')} · mismatches ${rep.summary.mismatches}</p>
${renderSvg(rep)}
<h2>Ratios</h2>
<table><tr><th>scenario</th><th>batch ns</th><th>native ns</th><th>wasm/native</th><th>batch-iotlb ns</th><th>IOTLB hit</th><th>native-iotlb ns</th><th>iotlb ratio</th><th>nocache ns</th><th>single ns</th><th>reference ns</th><th>ref/nocache</th></tr>
${rows.join('\n')}
</table>
<p class="meta">Targets: wasm/native and iotlb ratio ≤ ${rep.targets.wasmVsNativeMax}x, ref/nocache ≥ ${rep.targets.referenceSpeedupMin}x (misses in red).</p>
${dmaTable}<ul>${rep.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>
</body></html>
`;
}
