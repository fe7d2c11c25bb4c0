/**
 * The translation-core benchmark: runBench() measures every selected scenario on the WASM batch
 * path, the single-call path, the pure-TS reference walker and (for native images) the native C
 * walk, checks their results against each other, and returns one JSON-ready report.
 * Schema: bench/README.md.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TranslationBatch } from '../src/batch.js';
import { setScalableContext, writeScalableContextEntry } from '../src/guest/index.js';
import { RegionMemory, refTranslate, type RefEnv } from '../src/reference/index.js';
import type { TranslateRequest, TranslateResult } from '../src/types.js';
import { Vtd, type VtdOptions } from '../src/vtd.js';
import {
  disposeNative, nativeConfigs, prepareNative, runNative, type NativeConfig, type NativeResult, type Toolchain,
} from './native.js';
import {
  buildTable, createSyntheticGuest, generateRequests, newRequestSet, requestObject, SIZES, TABLE_SPECS,
  type BuiltTable, type Kind, type Pattern, type RequestSet,
} from './scenarios.js';
import { round2, sleep, summarize, timeReps, type NsStats } from './stats.js';
import { loadImage, loadRequests, type VtdImage } from './vtdfiles.js';

export const SCHEMA = 'vtd-emu-bench/1';
export const TARGETS = Object.freeze({ wasmVsNativeMax: 1.25, referenceSpeedupMin: 3 });

export type Path = 'batch' | 'single' | 'reference' | 'native';
export type Mode = 'quick' | 'full';

export class BenchArgumentError extends Error {
  override name = 'BenchArgumentError';
}

export interface BenchOptions {
  /** 'quick' (default) or 'full' (bigger tables, more native configurations). */
  mode?: Mode;
  /** A very small configuration for tests (seconds, not minutes); numbers are not meaningful. */
  tiny?: boolean;
  seed?: number;
  /** Timed repetitions per path (default 7; 3 when tiny). */
  reps?: number;
  /** Scenario filters: exact names, prefixes ending at a '-' boundary ('fs4', 'native'), or globs with '*'. */
  scenarios?: string[];
  /** Run the native C baseline when a compiler is available (default true). */
  native?: boolean;
  /** Progress lines (default: stderr); quiet silences them. */
  log?: (line: string) => void;
  quiet?: boolean;
}

export interface ScenarioRow {
  name: string;
  kind: Kind;
  levels: number;
  pageSize: number;
  pattern: Pattern;
  path: Path;
  /** Translations per timed repetition. */
  requests: number;
  reps: number;
  /** Nanoseconds per translation over the repetitions. */
  ns: NsStats;
  /** Translations per second at the median. */
  perSecond: number;
  /** Faulting requests among `requests`. */
  faults: number;
  /** Results compared against `checkedAgainst`, and how many differed. */
  checked: number;
  mismatches: number;
  checkedAgainst: 'native-expected' | 'reference' | 'batch' | null;
  /** Differences explained by a documented semantic gap (native_walk has no interrupt-range check). */
  knownDifferences?: number;
  tablesMiB?: number;
  secondStage?: { levels: number; pageSize: number };
  /** native only: native_walk's IOTLB mode on the same requests (vtd-emu has no IOTLB; context only). */
  iotlb?: { ns: NsStats; hitPercent: number };
  mismatchSamples?: string[];
}

export interface RatioRow {
  scenario: string;
  batchNs: number;
  singleNs: number | null;
  referenceNs: number | null;
  nativeNs: number | null;
  /** WASM batch median / native median (target <= 1.25). */
  wasmVsNative: number | null;
  /** WASM batch min / native min: the same ratio, less sensitive to interference from other load. */
  wasmVsNativeMin: number | null;
  /** WASM batch median / reference median (target <= 1/3). */
  wasmVsReference: number | null;
  /** Reference median / WASM batch median: how many times faster the batch is (target >= 3). */
  referenceSpeedup: number | null;
  /** Single-call median / batch median. */
  singleVsBatch: number | null;
  meetsNativeTarget: boolean | null;
  meetsReferenceTarget: boolean | null;
}

export interface BenchReport {
  schema: typeof SCHEMA;
  startedAt: string;
  durationMs: number;
  config: {
    mode: Mode;
    tiny: boolean;
    seed: number;
    reps: number;
    referenceReps: number;
    batchRequests: number;
    singleRequests: number;
    referenceRequests: number;
    warmup: string;
    filters: string[];
    tables: { density: number; pages: Record<string, number>; ramMiB: number };
  };
  machine: {
    node: string; v8: string; cpus: number; cpuModel: string; arch: string; platform: string; totalMemoryMiB: number;
    /** 1-minute load average at the start and the end of the run (other load on the machine skews timings). */
    loadAverage: { start: number; end: number };
  };
  wasm: { path: string | null; bytes: number | null; sha256: string | null };
  native: {
    available: boolean;
    note?: string;
    compiler?: string;
    compilerVersion?: string;
    flags?: string[];
    source?: string;
    runs: { key: string; description: string; args: string[]; tablesMiB: number | null }[];
  };
  targets: typeof TARGETS;
  scenarios: ScenarioRow[];
  ratios: RatioRow[];
  summary: {
    scenarios: number;
    rows: number;
    mismatches: number;
    knownDifferences: number;
    wasmVsNative: {
      count: number; geomean: number | null; worst: { scenario: string; value: number } | null; withinTarget: number;
      /** The same over min/min ratios. */
      geomeanMin: number | null;
    };
    referenceSpeedup: { count: number; geomean: number | null; worst: { scenario: string; value: number } | null; meetingTarget: number };
    singleVsBatch: { count: number; geomean: number | null; min: number | null; max: number | null };
  };
  notes: string[];
}

interface RunConfig {
  mode: Mode;
  tiny: boolean;
  seed: number;
  reps: number;
  referenceReps: number;
  batchRequests: number;
  singleRequests: number;
  referenceRequests: number;
  warmupPasses: number;
}

const NATIVE_SID = (0 << 8) | (3 << 3); // 00:03.0
const NATIVE_RTA = 0x1000n;
const NATIVE_CTP = 0x2000n;
const FAULT_INTERRUPT = 0x87;

/** Every scenario name a mode knows, synthetic and native. */
export function scenarioNames(mode: Mode, tiny = false): string[] {
  const synth = TABLE_SPECS.flatMap((t) => t.patterns.map((p) => `${t.key}-${p}`));
  const nat = nativeConfigs(tiny ? 'tiny' : mode).flatMap((c) => c.patterns.map((p) => `${c.key}-${p}`));
  return [...synth, ...nat];
}

function globToRegExp(g: string): RegExp {
  return new RegExp(`^${g.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** The selected names; throws BenchArgumentError when a filter matches nothing. */
export function selectScenarios(all: string[], filters: string[]): Set<string> {
  if (filters.length === 0) return new Set(all);
  const out = new Set<string>();
  for (const f of filters) {
    const re = f.includes('*') ? globToRegExp(f) : undefined;
    const hit = all.filter((n) => (re ? re.test(n) : n === f || n.startsWith(`${f}-`)));
    if (hit.length === 0) throw new BenchArgumentError(`--scenario '${f}' matches no scenario (see --list)`);
    hit.forEach((n) => out.add(n));
  }
  return out;
}

function locateWasm(): { path: string; bytes: Uint8Array<ArrayBuffer> } | undefined {
  // build/vtd-core.wasm is asc's output (what src/wasm/core.ts loads from sources); dist/ holds a copy.
  const candidates = ['../build/vtd-core.wasm', '../dist/vtd-core.wasm', '../vtd-core.wasm', '../../dist/vtd-core.wasm'];
  for (const c of candidates) {
    const p = fileURLToPath(new URL(c, import.meta.url));
    if (existsSync(p)) return { path: p, bytes: Uint8Array.from(readFileSync(p)) };
  }
  return undefined;
}

function sameResult(r: TranslateResult, fault: number, address: bigint): boolean {
  return r.ok ? fault === 0 && r.address === address : r.fault.reason === fault;
}

interface MeasureInput {
  name: string;
  kind: Kind;
  levels: number;
  pageSize: number;
  pattern: Pattern;
  tablesMiB?: number;
  secondStage?: { levels: number; pageSize: number };
  vtd: Vtd;
  batch: TranslationBatch;
  reqs: RequestSet;
  env: RefEnv;
  native?: { walk: NativeResult; iotlb?: NativeResult; expected: BigUint64Array };
}

function row(inp: MeasureInput, path: Path, requests: number, reps: number, ns: NsStats, faults: number,
  check: { checked: number; mismatches: number; against: ScenarioRow['checkedAgainst']; known?: number; samples?: string[] }): ScenarioRow {
  const r: ScenarioRow = {
    name: inp.name, kind: inp.kind, levels: inp.levels, pageSize: inp.pageSize, pattern: inp.pattern, path,
    requests, reps,
    ns: { median: round2(ns.median), min: round2(ns.min), max: ns.max === null ? null : round2(ns.max) },
    perSecond: Math.round(1e9 / ns.median),
    faults,
    checked: check.checked, mismatches: check.mismatches, checkedAgainst: check.against,
  };
  if (check.known !== undefined) r.knownDifferences = check.known;
  if (inp.tablesMiB !== undefined) r.tablesMiB = round2(inp.tablesMiB);
  if (inp.secondStage) r.secondStage = inp.secondStage;
  if (check.samples && check.samples.length) r.mismatchSamples = check.samples;
  return r;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** One scenario on every path; the native numbers come from the native_walk run. */
async function measure(inp: MeasureInput, cfg: RunConfig): Promise<{ rows: ScenarioRow[]; ratio: RatioRow }> {
  const { vtd, batch, reqs } = inp;
  const n = reqs.n;
  batch.sid.set(reqs.sid);
  batch.pasid.set(reqs.pasid);
  batch.iova.set(reqs.iova);
  batch.flags.set(reqs.flags);

  // --- WASM batch. Warm-up: many short calls (V8 tiers the core up from Liftoff to TurboFan
  // in the background), a pause for that compile, then full untimed passes (caches, A/D bits).
  const small = Math.min(n, 4096);
  const w0 = performance.now();
  for (let i = 0; i < 200 && (i < 32 || performance.now() - w0 < 25); i++) vtd.translateBatch(batch, small);
  await sleep(5);
  // Full passes: at least warmupPasses, then more (up to 8 extra) while a pass is still more
  // than 5% slower than the best one so far (tier-up or page-in still settling).
  const passes: number[] = [];
  for (let i = 0; i < cfg.warmupPasses + 8; i++) {
    const t0 = process.hrtime.bigint();
    vtd.translateBatch(batch, n);
    const dt = Number(process.hrtime.bigint() - t0);
    const best = passes.length ? Math.min(...passes) : Infinity;
    passes.push(dt);
    if (i + 1 >= cfg.warmupPasses && dt <= best * 1.05) break;
  }
  let batchFaults = -1;
  let unstable = false;
  collect();
  const bt = timeReps(cfg.reps, n, () => {
    const f = vtd.translateBatch(batch, n);
    if (batchFaults >= 0 && f !== batchFaults) unstable = true;
    batchFaults = f;
  });
  if (unstable) throw new Error(`${inp.name}: fault count changed between repetitions`);
  const faultOut = batch.fault;
  const addrOut = batch.address;
  const rows: ScenarioRow[] = [];

  // --- Native: its own timing (same tables, same requests), results checked here.
  let nativeNs: number | null = null;
  let nativeMinNs: number | null = null;
  let batchCheck: Parameters<typeof row>[6] | undefined;
  if (inp.native) {
    const exp32 = new Uint32Array(inp.native.expected.buffer, inp.native.expected.byteOffset, 2 * n);
    const out32 = new Uint32Array(addrOut.buffer, addrOut.byteOffset, 2 * n);
    let mism = 0;
    let known = 0;
    let nativeFaults = 0;
    const samples: string[] = [];
    for (let i = 0; i < n; i++) {
      const lo = exp32[2 * i]!;
      const hi = exp32[2 * i + 1]!;
      const f = faultOut[i]!;
      const nf = hi === 0xffff_ffff && lo >= 0xffff_ff00;
      let bad: boolean;
      if (nf) {
        nativeFaults++;
        bad = f === 0; // any vtd-emu fault matches a native fault
      } else if (f === 0) {
        bad = out32[2 * i] !== lo || out32[2 * i + 1] !== hi;
      } else if (f === FAULT_INTERRUPT && hi === 0 && lo >>> 20 === 0xfee) {
        known++; // §8: vtd-emu faults outputs in 0xFEEx_xxxx; native_walk does not check them
        bad = false;
      } else {
        bad = true;
      }
      if (bad) {
        mism++;
        if (samples.length < 5) {
          samples.push(`#${i} pasid ${hex(reqs.pasid[i]!)} iova ${hex(reqs.iova[i]!)}: native ${hex(inp.native.expected[i]!)}, ` +
            `vtd-emu ${f ? `fault ${hex(f)}` : hex(addrOut[i]!)}`);
        }
      }
    }
    batchCheck = { checked: n, mismatches: mism, against: 'native-expected', known, samples };
    const w = inp.native.walk;
    nativeNs = w.medNs;
    nativeMinNs = w.minNs;
    const nr = row(inp, 'native', n, cfg.reps, { median: w.medNs, min: w.minNs, max: null }, nativeFaults,
      { checked: 0, mismatches: 0, against: null });
    if (inp.native.iotlb) {
      nr.iotlb = { ns: { median: inp.native.iotlb.medNs, min: inp.native.iotlb.minNs, max: null }, hitPercent: inp.native.iotlb.percent };
    }
    rows.push(nr);
  }

  // --- Single call (vtd.translate) on the first requests of the same stream.
  const m = Math.min(n, cfg.singleRequests);
  const objs: TranslateRequest[] = Array.from({ length: m }, (_, i) => requestObject(reqs, i));
  let singleMism = 0;
  const singleSamples: string[] = [];
  for (let i = 0; i < m; i++) { // verification pass (also the first warm-up pass)
    const r = vtd.translate(objs[i]!);
    if (!sameResult(r, faultOut[i]!, addrOut[i]!)) {
      singleMism++;
      if (singleSamples.length < 5) singleSamples.push(`#${i}: single ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v))}, batch fault ${faultOut[i]}`);
    }
  }
  for (let p = 1; p < cfg.warmupPasses; p++) for (let i = 0; i < m; i++) vtd.translate(objs[i]!);
  let singleFaults = 0;
  collect();
  const st = timeReps(cfg.reps, m, () => {
    let f = 0;
    for (let i = 0; i < m; i++) if (!vtd.translate(objs[i]!).ok) f++;
    singleFaults = f;
  });

  // --- Pure-TS reference walker on the first requests of the same stream.
  const k = Math.min(n, cfg.referenceRequests);
  let refMism = 0;
  const refSamples: string[] = [];
  for (let i = 0; i < k; i++) {
    const r = refTranslate(inp.env, objs[i] ?? requestObject(reqs, i));
    if (!sameResult(r, faultOut[i]!, addrOut[i]!)) {
      refMism++;
      if (refSamples.length < 5) refSamples.push(`#${i}: reference ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v))}, batch fault ${faultOut[i]} address ${hex(addrOut[i]!)}`);
    }
  }
  const refObjs = objs.length >= k ? objs : Array.from({ length: k }, (_, i) => requestObject(reqs, i));
  for (let p = 1; p < cfg.warmupPasses; p++) for (let i = 0; i < k; i++) refTranslate(inp.env, refObjs[i]!);
  let refFaults = 0;
  collect();
  const rt = timeReps(cfg.referenceReps, k, () => {
    let f = 0;
    for (let i = 0; i < k; i++) if (!refTranslate(inp.env, refObjs[i]!).ok) f++;
    refFaults = f;
  });

  if (!batchCheck) batchCheck = { checked: k, mismatches: refMism, against: 'reference', samples: refSamples };
  const bs = summarize(bt);
  const ss = summarize(st);
  const rs = summarize(rt);
  rows.push(row(inp, 'batch', n, cfg.reps, bs, batchFaults, batchCheck));
  rows.push(row(inp, 'single', m, cfg.reps, ss, singleFaults, { checked: m, mismatches: singleMism, against: 'batch', samples: singleSamples }));
  rows.push(row(inp, 'reference', k, cfg.referenceReps, rs, refFaults, { checked: k, mismatches: refMism, against: 'batch', samples: refSamples }));

  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : Math.round((a / b) * 1000) / 1000);
  const wasmVsNative = ratio(bs.median, nativeNs);
  const referenceSpeedup = ratio(rs.median, bs.median);
  return {
    rows,
    ratio: {
      scenario: inp.name,
      batchNs: round2(bs.median),
      singleNs: round2(ss.median),
      referenceNs: round2(rs.median),
      nativeNs,
      wasmVsNative,
      wasmVsNativeMin: ratio(bs.min, nativeMinNs),
      wasmVsReference: ratio(bs.median, rs.median),
      referenceSpeedup,
      singleVsBatch: ratio(ss.median, bs.median),
      meetsNativeTarget: wasmVsNative === null ? null : wasmVsNative <= TARGETS.wasmVsNativeMax,
      meetsReferenceTarget: referenceSpeedup === null ? null : referenceSpeedup >= TARGETS.referenceSpeedupMin,
    },
  };
}

function refEnvFor(vtd: Vtd, bytes: number, rtaddr: bigint, into?: Uint8Array): RefEnv {
  // The reference walker reads its own copy of guest RAM (the project's RegionMemory), taken
  // after the tables were written: same tables, separate A/D state. Copied in chunks into a
  // reused buffer, so a run does not leave hundreds of MiB of garbage behind.
  const copy = into && into.length === bytes ? into : new Uint8Array(bytes);
  const CHUNK = 1 << 20; // small temporaries: freed as the copy goes, not during a later timed section
  for (let off = 0; off < bytes; off += CHUNK) copy.set(vtd.memory.read(off, Math.min(CHUNK, bytes - off)), off);
  return { mem: new RegionMemory([{ base: 0n, bytes: copy }]), caps: { ...vtd.caps }, te: true, scalable: true, rtaddr };
}

/**
 * A unit for the bench: caps.nest on (for the nested scenarios), and translation caches off
 * where the core has them (`caches: false`), so every request walks the tables, as native_walk's
 * mode=walk does: the comparison is walk against walk of the same depth.
 */
async function createVtd(ramBytes: number, module: WebAssembly.Module | undefined): Promise<Vtd> {
  const opts: VtdOptions & { caches?: false } = { memory: { size: ramBytes }, caps: { nest: true }, caches: false };
  if (module) opts.wasm = module;
  const vtd = await Vtd.create(opts);
  const caches = (vtd as { caches?: { enabled?: boolean } }).caches;
  if (caches && caches.enabled !== false) throw new Error('could not turn the translation caches off');
  return vtd;
}

/** A full GC before a timed section when node runs with --expose-gc (npm run bench does). */
function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * After allocating or copying hundreds of MiB (guest RAM, the reference walker's copy): a full
 * GC and a pause, so freeing and page reclaim in the background do not overlap the next timings.
 */
async function settle(): Promise<void> {
  collect();
  await sleep(200);
}

function geomean(v: number[]): number | null {
  if (v.length === 0) return null;
  return Math.round(Math.exp(v.reduce((a, x) => a + Math.log(x), 0) / v.length) * 1000) / 1000;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const started = Date.now();
  const loadStart = loadavg()[0] ?? 0;
  const mode: Mode = options.mode ?? 'quick';
  if (mode !== 'quick' && mode !== 'full') throw new BenchArgumentError(`mode must be 'quick' or 'full', got '${String(mode)}'`);
  const tiny = options.tiny ?? false;
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new BenchArgumentError(`seed must be a non-negative integer, got ${seed}`);
  const reps = options.reps ?? (tiny ? 3 : 7);
  if (!Number.isInteger(reps) || reps < 1 || reps > 1000) throw new BenchArgumentError(`reps must be an integer in [1, 1000], got ${reps}`);
  const log = options.quiet ? () => {} : (options.log ?? ((l: string) => process.stderr.write(`[bench] ${l}\n`)));
  const sizeKey = tiny ? 'tiny' : mode;
  const sizes = SIZES[sizeKey];
  const cfg: RunConfig = tiny
    ? { mode, tiny, seed, reps, referenceReps: Math.min(reps, 3), batchRequests: 4096, singleRequests: 1024, referenceRequests: 256, warmupPasses: 1 }
    : {
      mode, tiny, seed, reps, referenceReps: Math.min(reps, 5), batchRequests: 1 << 20,
      singleRequests: mode === 'full' ? 1 << 18 : 1 << 17, referenceRequests: mode === 'full' ? 1 << 15 : 1 << 14, warmupPasses: 3,
    };
  const filters = options.scenarios ?? [];
  const selected = selectScenarios(scenarioNames(mode, tiny), filters);
  const bigSeed = BigInt(seed);

  const wasmFile = locateWasm();
  const module = wasmFile ? await WebAssembly.compile(wasmFile.bytes) : undefined;
  const notes: string[] = [
    'ns are per translation: the time of a whole batch call (or loop of single calls) divided by its requests.',
    'median = the middle repetition after sorting (sorted[floor(reps/2)], as native_walk); perSecond = 1e9 / median.',
    'native rows come from native_walk\'s own RESULT lines (mode=walk); it prints min and median only, so ns.max is null.',
    'native_walk checks present/RW only; vtd-emu does the full VT-d checks (context, PASID entry, reserved bits, U/S) and A/D updates on the same tables.',
    'translation caches are off in the measured units (caches: false where the core has them): every request walks root, context, PASID and page tables.',
    'batch rows are checked against native_walk\'s expected results (a native fault matches any vtd-emu fault) or, without native, against the reference walker; single and reference rows against the batch results.',
  ];
  const rows: ScenarioRow[] = [];
  const ratios: RatioRow[] = [];

  // ---------------- synthetic scenarios (GuestBuilder tables in one Vtd)
  const specs = TABLE_SPECS.filter((t) => t.patterns.some((p) => selected.has(`${t.key}-${p}`)));
  if (specs.length) {
    const vtd = await createVtd(sizes.ramBytes, module);
    const g = createSyntheticGuest(vtd, sizes.ramBytes);
    const built: BuiltTable[] = [];
    for (const spec of specs) {
      const t0 = performance.now();
      const b = buildTable(g, spec, sizes, bigSeed);
      built.push(b);
      log(`built ${spec.key}: ${sizes.pages[spec.pageSize] ?? 0} pages, ${(b.tablePages * 4096 / 2 ** 20).toFixed(2)} MiB of tables (${(performance.now() - t0).toFixed(0)} ms)`);
    }
    const env = refEnvFor(vtd, sizes.ramBytes, g.guest.root());
    const batch = vtd.createBatch(cfg.batchRequests);
    await settle();
    for (const b of built) {
      for (const pattern of b.spec.patterns) {
        const name = `${b.spec.key}-${pattern}`;
        if (!selected.has(name)) continue;
        const reqs = generateRequests(g, b, pattern, cfg.batchRequests, bigSeed);
        const res = await measure({
          name, kind: b.spec.kind, levels: b.spec.levels, pageSize: b.spec.pageSize, pattern,
          tablesMiB: (b.tablePages * 4096) / 2 ** 20,
          ...(b.spec.secondStage ? { secondStage: b.spec.secondStage } : {}),
          vtd, batch, reqs, env,
        }, cfg);
        rows.push(...res.rows);
        ratios.push(res.ratio);
        log(`${name}: batch ${res.ratio.batchNs} ns, single ${res.ratio.singleNs} ns, reference ${res.ratio.referenceNs} ns`);
      }
    }
  }

  // ---------------- native images (native_walk --dump, replayed in vtd-emu)
  const natCfgs = nativeConfigs(sizeKey).filter((c) => c.patterns.some((p) => selected.has(`${c.key}-${p}`)));
  const nativeInfo: BenchReport['native'] = { available: false, runs: [] };
  if (natCfgs.length && options.native === false) {
    nativeInfo.note = 'native baseline disabled (--no-native)';
    notes.push(`native scenarios skipped: ${nativeInfo.note}`);
  } else if (natCfgs.length) {
    const tc: Toolchain = prepareNative();
    if (!tc.available) {
      nativeInfo.note = tc.note;
      notes.push(`native scenarios skipped: ${tc.note}`);
      log(tc.note);
    } else {
      Object.assign(nativeInfo, { available: true, compiler: tc.compiler, compilerVersion: tc.version, flags: tc.flags, source: tc.source });
      log(`native: ${tc.compiler} ${tc.flags.join(' ')} (${tc.version})`);
      let nv: { vtd: Vtd; batch: TranslationBatch; memSize: number; refRam: Uint8Array } | undefined;
      try {
        for (const nc of natCfgs) {
          const patterns = nc.patterns.filter((p) => selected.has(`${nc.key}-${p}`));
          const t0 = performance.now();
          const run = runNative(tc, nc, patterns, { requests: cfg.batchRequests, reps: cfg.reps, seed });
          nativeInfo.runs.push({ key: nc.key, description: nc.description, args: run.args, tablesMiB: run.tablesMiB ?? null });
          log(`native ${nc.key}: ${run.results.filter((r) => r.mode === 'walk').map((r) => `${r.pattern} ${r.medNs} ns`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s incl. build and dump)`);
          const image = loadImage(run.imagePath);
          if (!nv || nv.memSize !== image.memSize) {
            const vtd = await createVtd(image.memSize, module);
            nv = { vtd, batch: vtd.createBatch(cfg.batchRequests), memSize: image.memSize, refRam: new Uint8Array(image.memSize) };
          }
          loadNativeImage(nv.vtd, image);
          const env = refEnvFor(nv.vtd, image.memSize, NATIVE_RTA, nv.refRam);
          await settle();
          for (const pattern of patterns) {
            const file = loadRequests(run.requestPath(pattern));
            const walk = run.results.find((r) => r.pattern === pattern && r.mode === 'walk');
            const iotlb = run.results.find((r) => r.pattern === pattern && r.mode === 'iotlb');
            if (!walk) throw new Error(`native_walk printed no walk result for ${nc.key} ${pattern}`);
            const reqs = newRequestSet(file.n);
            reqs.sid.fill(NATIVE_SID);
            reqs.pasid.set(file.pasid);
            reqs.iova.set(file.iova);
            for (let i = 0; i < file.n; i++) reqs.flags[i] = file.flags[i]! & 1;
            const name = `${nc.key}-${pattern}`;
            const res = await measure({
              name, kind: 'native-image', levels: image.levels, pageSize: image.bigPages ? 2 ** 21 : 4096, pattern,
              ...(run.tablesMiB !== undefined ? { tablesMiB: run.tablesMiB } : {}),
              vtd: nv.vtd, batch: nv.batch, reqs, env,
              native: { walk, ...(iotlb ? { iotlb } : {}), expected: file.expected },
            }, cfg);
            rows.push(...res.rows);
            ratios.push(res.ratio);
            log(`${name}: native ${walk.medNs} ns, batch ${res.ratio.batchNs} ns (x${res.ratio.wasmVsNative}), reference ${res.ratio.referenceNs} ns`);
          }
        }
      } finally {
        disposeNative(tc);
      }
    }
  }

  const mismatches = rows.reduce((a, r) => a + r.mismatches, 0);
  const known = rows.reduce((a, r) => a + (r.knownDifferences ?? 0), 0);
  if (known) notes.push(`${known} request(s) translate into the interrupt range 0xFEE00000-0xFEEFFFFF: vtd-emu faults them (0x87, docs/semantics.md §8), native_walk does not check; counted as knownDifferences, not mismatches.`);
  const worst = (v: { scenario: string; value: number }[], cmp: (a: number, b: number) => boolean) =>
    v.reduce<{ scenario: string; value: number } | null>((w, x) => (w === null || cmp(x.value, w.value) ? x : w), null);
  const nat = ratios.filter((r) => r.wasmVsNative !== null).map((r) => ({ scenario: r.scenario, value: r.wasmVsNative! }));
  const ref = ratios.filter((r) => r.referenceSpeedup !== null).map((r) => ({ scenario: r.scenario, value: r.referenceSpeedup! }));
  const svb = ratios.filter((r) => r.singleVsBatch !== null).map((r) => r.singleVsBatch!);

  return {
    schema: SCHEMA,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    config: {
      mode, tiny, seed, reps: cfg.reps, referenceReps: cfg.referenceReps,
      batchRequests: cfg.batchRequests, singleRequests: cfg.singleRequests, referenceRequests: cfg.referenceRequests,
      warmup: `batch: >=32 calls of ${Math.min(4096, cfg.batchRequests)} requests (>=25 ms), 5 ms pause, then >=${cfg.warmupPasses} untimed full passes until a pass is within 5% of the best (at most ${cfg.warmupPasses + 8}); single/reference: ${cfg.warmupPasses} untimed full pass(es), the first one checks results`,
      filters,
      tables: {
        density: sizes.density,
        pages: Object.fromEntries(Object.entries(sizes.pages).map(([k, v]) => [Number(k) === 4096 ? '4k' : Number(k) === 2 ** 21 ? '2m' : '1g', v])),
        ramMiB: sizes.ramBytes / 2 ** 20,
      },
    },
    machine: {
      node: process.version, v8: process.versions.v8, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown',
      arch: arch(), platform: platform(), totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
      loadAverage: { start: round2(loadStart), end: round2(loadavg()[0] ?? 0) },
    },
    wasm: wasmFile
      ? { path: wasmFile.path, bytes: wasmFile.bytes.length, sha256: createHash('sha256').update(wasmFile.bytes).digest('hex') }
      : { path: null, bytes: null, sha256: null },
    native: nativeInfo,
    targets: TARGETS,
    scenarios: rows,
    ratios,
    summary: {
      scenarios: ratios.length,
      rows: rows.length,
      mismatches,
      knownDifferences: known,
      wasmVsNative: {
        count: nat.length, geomean: geomean(nat.map((x) => x.value)), worst: worst(nat, (a, b) => a > b),
        withinTarget: nat.filter((x) => x.value <= TARGETS.wasmVsNativeMax).length,
        geomeanMin: geomean(ratios.filter((r) => r.wasmVsNativeMin !== null).map((r) => r.wasmVsNativeMin!)),
      },
      referenceSpeedup: {
        count: ref.length, geomean: geomean(ref.map((x) => x.value)), worst: worst(ref, (a, b) => a < b),
        meetingTarget: ref.filter((x) => x.value >= TARGETS.referenceSpeedupMin).length,
      },
      singleVsBatch: {
        count: svb.length, geomean: geomean(svb),
        min: svb.length ? Math.min(...svb) : null, max: svb.length ? Math.max(...svb) : null,
      },
    },
    notes,
  };
}

/**
 * The native image in vtd-emu guest RAM, plus what native_walk leaves to the IOMMU: a root table
 * and a scalable-mode context entry (PASIDE, PDTS 7 = 2^14 directory entries) pointing at the
 * image's PASID directory. native_walk keeps the first 2 MiB free except the directory (1 MiB).
 */
function loadNativeImage(vtd: Vtd, image: VtdImage): void {
  vtd.memory.fill(0n, image.memSize, 0);
  for (const p of image.pages) {
    if (p.gpa < NATIVE_CTP + 0x1000n && p.gpa + 0x1000n > NATIVE_RTA) {
      throw new Error(`native image uses page ${hex(p.gpa)}, where the bench puts the root/context tables`);
    }
    vtd.memory.write(p.gpa, p.bytes);
  }
  const devfn = NATIVE_SID & 0xff;
  setScalableContext(vtd.memory, NATIVE_RTA, NATIVE_SID >> 8, devfn, NATIVE_CTP);
  writeScalableContextEntry(vtd.memory, NATIVE_CTP, devfn, { paside: true, pdts: 7, pasidDirPtr: image.dirGpa });
  vtd.setRootTable(NATIVE_RTA);
}
