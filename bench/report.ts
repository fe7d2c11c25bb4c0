/** The human-readable tables printed by `vtd-emu bench` / `npm run bench` (the JSON carries the same numbers). */
import type { BenchReport, ScenarioRow } from './run.js';

const PAGE = (s: number | null): string => (s === null ? '-' : s >= 2 ** 30 ? `${s / 2 ** 30}G` : s >= 2 ** 20 ? `${s / 2 ** 20}M` : `${s / 1024}K`);
const num = (v: number | null | undefined, d = 1): string => (v === null || v === undefined ? '-' : v.toFixed(d));
const count = (v: number): string => (v >= 1 << 20 && v % (1 << 20) === 0 ? `${v / (1 << 20)}Mi` : v >= 1024 && v % 1024 === 0 ? `${v / 1024}Ki` : String(v));

function table(head: string[], body: string[][], right: boolean[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [fmt(head), w.map((x) => '-'.repeat(x)).join('  '), ...body.map(fmt)].join('\n');
}

function levels(r: ScenarioRow): string {
  if (r.levels === null) return '-';
  if (r.kind === 'pass-through') return '-';
  if (r.kind === 'second-stage') return `ss${r.levels}`;
  if (r.secondStage) return `${r.levels}+ss${r.secondStage.levels}`;
  return String(r.levels);
}

const x = (v: number | null, ok: boolean | null, d = 2): string => (v === null ? '-' : `${v.toFixed(d)}x${ok === false ? ' !' : ''}`);

export function formatReport(rep: BenchReport): string {
  const out: string[] = [];
  const m = rep.machine;
  out.push(`vtd-emu translation benchmark (${rep.config.replay ? 'replay, ' : ''}${rep.config.mode}${rep.config.tiny ? ', tiny' : ''}, seed ${rep.config.seed}) — ` +
    `node ${m.node}, ${m.cpus} x ${m.cpuModel}, ${m.arch}`);
  if (rep.config.replay) {
    const r = rep.config.replay;
    out.push(`replay: image ${r.image} (${r.imageFormat}), requests ${r.requestList} (${r.requestFormat}, ${r.used === r.requests ? r.requests : `${r.used} of ${r.requests}`})`);
  }
  out.push(`native: ${rep.native.available ? `${rep.native.compiler} ${rep.native.flags?.join(' ')} (${rep.native.compilerVersion})` : `skipped — ${rep.native.note ?? 'no native scenario selected'}`}`);
  out.push(`load average (1 min): ${m.loadAverage.start} at start, ${m.loadAverage.end} at end (other load on the machine skews timings)`);
  out.push(`requests per rep: batch ${count(rep.config.batchRequests)}, single ${count(rep.config.singleRequests)}, reference ${count(rep.config.referenceRequests)}; ` +
    `reps ${rep.config.reps} (reference ${rep.config.referenceReps}); ns = per translation` +
    (rep.scenarios.some((r) => r.path === 'dma') ? `; dma: ${count(rep.config.dmaRequests)} DMA requests per rep, ${rep.config.dmaReps} reps, ns = per DMA request` : ''));
  out.push('paths: batch = context+PASID caches, no IOTLB; batch-nocache = no caches; batch-iotlb = all caches (flushed each rep); native = native_walk mode=walk; native-iotlb = mode=iotlb' +
    (rep.scenarios.some((r) => r.path === 'dma') ? '; dma = sim.dmaBatch of a passthrough device through the nested HWPTs its guest bound (SimIommufd)' : ''));
  out.push('');

  const body = rep.scenarios.map((r) => [
    r.name, r.path, levels(r), PAGE(r.pageSize), r.pattern, count(r.requests), String(r.reps),
    num(r.ns.median, 2), num(r.ns.min, 2), num(r.ns.max, 2), num(r.perSecond / 1e6, 2),
    `${r.faults} (${((100 * r.faults) / r.requests).toFixed(2)}%)`,
    r.iotlb ? `${r.iotlb.hitPercent.toFixed(1)}%` : '-',
    r.checkedAgainst ? `${r.mismatches}/${count(r.checked)}${r.knownDifferences ? ` (+${r.knownDifferences} intr)` : ''}` : '-',
  ]);
  out.push(table(
    ['scenario', 'path', 'lvl', 'page', 'pat', 'reqs', 'reps', 'med ns', 'min ns', 'max ns', 'M/s', 'faults', 'IOTLB hit', 'mismatch'],
    body, [false, false, false, false, false, true, true, true, true, true, true, true, true, true],
  ));
  out.push('');

  const rb = rep.ratios.map((r) => [
    r.scenario, num(r.batchNs, 2), num(r.nativeNs, 2), x(r.wasmVsNative, r.meetsNativeTarget),
    num(r.iotlbNs, 2), `${r.iotlbHitPercent.toFixed(1)}%`, num(r.nativeIotlbNs, 2), x(r.wasmIotlbVsNativeIotlb, r.meetsNativeIotlbTarget),
    num(r.nocacheNs, 2), num(r.singleNs, 1), num(r.referenceNs, 0), x(r.referenceSpeedup, r.meetsReferenceTarget, 1),
  ]);
  if (rb.length) {
    out.push(table(
      ['scenario', 'batch', 'native', 'wasm/native', 'b-iotlb', 'hit', 'nat-iotlb', 'iotlb ratio', 'nocache', 'single', 'ref', 'ref/nocache'],
      rb, [false, true, true, true, true, true, true, true, true, true, true, true],
    ));
    out.push(`ns per translation (medians). wasm/native = batch / native walk; iotlb ratio = batch-iotlb / native-iotlb; ref/nocache = reference / batch-nocache.`);
    out.push(`targets: wasm/native and iotlb ratio <= ${rep.targets.wasmVsNativeMax}x, ref/nocache >= ${rep.targets.referenceSpeedupMin}x ('!' marks a miss); mismatch = differing/checked results, '(+N intr)' = known interrupt-range differences (see notes)`);
    out.push('');
  }

  const db = rep.scenarios.filter((r) => r.path === 'dma' && r.dma).map((r) => {
    const d = r.dma!;
    return [
      r.name, String(d.pasids), String(d.calls), `${count(d.reads)}/${count(d.writes)}`, num(r.ns.median, 2), num(r.perSecond / 1e6, 2),
      num(d.batchNs, 2), x(d.dmaVsBatch, null), `${r.mismatches}/${count(r.checked)}`, `${d.batchMismatches}/${count(d.batchChecked)}`,
    ];
  });
  if (db.length) {
    out.push(table(
      ['dma scenario', 'PASIDs', 'calls', 'r/w', 'dma ns', 'M DMA/s', 'translateBatch ns', 'dma/batch', 'vs guest map', 'vs translateBatch'],
      db, [false, true, true, true, true, true, true, true, true, true],
    ));
    out.push('device DMA through bound nested HWPTs: sim.dmaBatch calls (one per PASID and access) per rep; translateBatch = the vIOMMU on the same requests and unit; mismatch columns = differing/checked results.');
    out.push('');
  }

  const s = rep.summary;
  out.push(`summary: ${s.scenarios} scenarios, ${s.rows} rows, mismatches ${s.mismatches}${s.knownDifferences ? `, known differences ${s.knownDifferences}` : ''}`);
  for (const [label, w] of [['WASM batch vs native walk', s.wasmVsNative], ['WASM batch-iotlb vs native iotlb', s.wasmIotlbVsNativeIotlb]] as const) {
    if (w.count) {
      out.push(`  ${label}: geomean ${num(w.geomean, 2)}x (min/min ${num(w.geomeanMin, 2)}x), worst ${num(w.worst?.value, 2)}x (${w.worst?.scenario}), within ${rep.targets.wasmVsNativeMax}x: ${w.withinTarget}/${w.count}`);
    }
  }
  const rs = s.referenceSpeedup;
  if (rs.count) {
    out.push(`  WASM batch-nocache vs reference: geomean ${num(rs.geomean, 1)}x faster, least ${num(rs.worst?.value, 1)}x (${rs.worst?.scenario}), >= ${rep.targets.referenceSpeedupMin}x: ${rs.meetingTarget}/${rs.count}`);
  }
  if (s.nocacheVsBatch.count) {
    out.push(`  caches: batch-nocache / batch geomean ${num(s.nocacheVsBatch.geomean, 2)}x, batch-iotlb / batch geomean ${num(s.iotlbVsBatch.geomean, 2)}x, IOTLB hit rate ${num(s.iotlbHitPercent.min, 1)}% .. ${num(s.iotlbHitPercent.max, 1)}%`);
  }
  if (s.dma.count) {
    out.push(`  device DMA (SimIommufd, bound nested HWPTs): ${s.dma.count} scenarios, geomean ${num(s.dma.nsGeomean, 1)} ns/DMA, dma / translateBatch geomean ${num(s.dma.dmaVsBatchGeomean, 2)}x, translateBatch mismatches ${s.dma.batchMismatches}`);
  }
  if (s.singleVsBatch.count) {
    out.push(`  single call vs batch: geomean ${num(s.singleVsBatch.geomean, 2)}x (${num(s.singleVsBatch.min, 2)}x .. ${num(s.singleVsBatch.max, 2)}x)`);
  }
  for (const n of rep.notes) out.push(`  note: ${n}`);
  const samples = rep.scenarios.filter((r) => r.mismatchSamples?.length);
  for (const r of samples) out.push(`  MISMATCH ${r.name} ${r.path}: ${r.mismatchSamples!.join('; ')}`);
  out.push(`  took ${(rep.durationMs / 1000).toFixed(1)} s`);
  return out.join('\n');
}
