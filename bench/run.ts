/**
 * The translation-core benchmark: runBench() measures every selected scenario on three WASM
 * batch units (context + PASID caches without IOTLB, no caches, all caches), the single-call
 * path, the pure-TS reference walker and (for native images) native_walk's walk and IOTLB
 * modes, checks their results against each other, and returns one JSON-ready report. The
 * dma-* scenarios measure a passthrough device's DMA through SimIommufd after the guest bound
 * its PASID tables (bench/dma.ts). Schema: bench/schema.json, described in bench/README.md.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NO_PASID, type TranslationBatch } from '../src/batch.js';
import type { CacheOptions } from '../src/caches.js';
import {
  nativeToGuestImage, readImage, readRequests, type GuestImage, type RequestList,
} from '../src/cli/formats.js';
import { copyGuestRam, refEnvOf, unitFromImage } from '../src/cli/image.js';
import { refTranslate, type RefEnv } from '../src/reference/index.js';
import type { TranslateRequest, TranslateResult } from '../src/types.js';
import { Vtd, type VtdOptions } from '../src/vtd.js';
import {
  createDmaSetup, DMA_REQUESTS, DMA_SPECS, expectedDma, generateDmaRequests, groupDmaCalls, stage2, type DmaSetup,
} from './dma.js';
import {
  disposeNative, nativeConfigs, prepareNative, runNative, type NativeResult, type Toolchain,
} from './native.js';
import {
  buildTable, createSyntheticGuest, generateRequests, requestObject, SIZES, TABLE_SPECS,
  type BuiltTable, type Kind, type Pattern, type RequestSet,
} from './scenarios.js';
import { round2, sleep, summarize, type NsStats } from './stats.js';

export const SCHEMA = 'vtd-emu-bench/3';
export const TARGETS = Object.freeze({ wasmVsNativeMax: 1.25, referenceSpeedupMin: 3 });

export type Path = 'batch' | 'batch-nocache' | 'batch-iotlb' | 'single' | 'reference' | 'native' | 'native-iotlb' | 'dma';
export const PATHS: readonly Path[] = ['batch', 'batch-nocache', 'batch-iotlb', 'single', 'reference', 'native', 'native-iotlb', 'dma'];
/** The paths of a translation scenario (synthetic, native image, replay); dma-* scenarios have the dma path only. */
export const TRANSLATION_PATHS: readonly Path[] = PATHS.filter((p) => p !== 'dma');
export type Mode = 'quick' | 'full';

/** The translation caches of the three batch units. */
export const UNIT_CACHES: Record<'batch' | 'batch-nocache' | 'batch-iotlb', CacheOptions> = {
  batch: { iotlb: 0 },
  'batch-nocache': false,
  'batch-iotlb': {},
};
const CACHE_NOTES = {
  batch: 'context cache (256 entries) and PASID cache (4096) on, IOTLB off: every request walks the page tables (the depth of native_walk mode=walk)',
  'batch-nocache': 'caches: false: every request reads root, context, PASID directory and PASID entry, then walks the page tables',
  'batch-iotlb': 'every cache at its default size (context 256, PASID 4096, IOTLB 4096 entries, 4-way); all caches flushed before each timed repetition, as native_walk mode=iotlb clears its 4096-entry 4-way IOTLB',
  single: 'vtd.translate() per request on the batch unit (context + PASID caches, no IOTLB)',
  reference: 'refTranslate() of the pure-TS reference walker over its own copy of guest RAM (no caches)',
  dma: 'dma-* scenarios only: sim.dmaBatch(devId, pasid, iovas, r|w) of a passthrough device on SimIommufd, through the nested HWPTs the bind path attached after the guest programmed its PASID entries (first stage) and invalidated the PASID cache through the registers; stage 1 = the guest tables walked by vtd.firstStageWalk, stage 2 = the IOAS mapping of guest RAM; no caches',
};

/** Most requests one replay measures (the first ones of a longer list); a batch lives in WASM linear memory. */
export const REPLAY_MAX_REQUESTS = 1 << 20;

export class BenchArgumentError extends Error {
  override name = 'BenchArgumentError';
}

/** A user's trace to replay instead of the built-in scenarios. */
export interface ReplayInput {
  /** Scenario name in the report, e.g. 'replay-demo'. */
  name: string;
  image: GuestImage;
  requests: RequestList;
  /** native_walk results (VTDREQ01): GPA or 0xFFFFFFFFFFFFFF00 | code; checked like the native scenarios. */
  expected?: BigUint64Array;
  /** For the report: file names and formats. */
  source: { image: string; imageFormat: string; requests: string; requestFormat: string };
  levels?: number | null;
  pageSize?: number | null;
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
  /** Replay this trace instead of the built-in scenarios. */
  replay?: ReplayInput;
  /** Progress lines (default: stderr); quiet silences them. */
  log?: (line: string) => void;
  quiet?: boolean;
  /** Called after each measured step (for a progress bar). */
  progress?: (done: number, total: number, label: string) => void;
}

export interface ScenarioRow {
  name: string;
  kind: Kind | 'replay';
  /** First-stage levels (second-stage levels for ss*, 0 for pt); null for a replay of a vtd-emu image. */
  levels: number | null;
  pageSize: number | null;
  pattern: Pattern | 'trace';
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
  checkedAgainst: 'native-expected' | 'reference' | 'batch' | 'guest-mapping' | null;
  /** Differences explained by a documented semantic gap (native_walk has no interrupt-range check). */
  knownDifferences?: number;
  tablesMiB?: number;
  secondStage?: { levels: number; pageSize: number };
  /** batch-iotlb: IOTLB hits and misses over the timed repetitions; native-iotlb: native_walk's hit rate only. */
  iotlb?: { hitPercent: number; hits: number | null; misses: number | null };
  /** dma rows: the calls, the bound PASIDs, and vtd.translateBatch on the same requests. */
  dma?: DmaInfo;
  mismatchSamples?: string[];
}

export interface DmaInfo {
  /** PASIDs the guest bound (0 = the RID), and the nested HWPTs the bind path attached for them. */
  pasids: number;
  hwpts: number;
  /** dmaBatch calls per repetition (one per PASID and access), and the requests by access. */
  calls: number;
  reads: number;
  writes: number;
  /** vtd.translateBatch on the same requests on the same unit (context + PASID caches, no IOTLB): median ns, faults. */
  batchNs: number;
  batchFaults: number;
  /** dma median / batchNs. */
  dmaVsBatch: number;
  /** dma results compared with translateBatch's (its GPA through the IOAS mapping; faults with faults), and how many differed. */
  batchChecked: number;
  batchMismatches: number;
}

export interface RatioRow {
  scenario: string;
  /** Medians, ns per translation. */
  batchNs: number;
  nocacheNs: number;
  iotlbNs: number;
  iotlbHitPercent: number;
  singleNs: number;
  referenceNs: number;
  nativeNs: number | null;
  nativeIotlbNs: number | null;
  nativeIotlbHitPercent: number | null;
  /** batch median / native (mode=walk) median (target <= 1.25). */
  wasmVsNative: number | null;
  /** batch min / native min: the same ratio, less sensitive to interference from other load. */
  wasmVsNativeMin: number | null;
  /** batch-iotlb median / native mode=iotlb median (target <= 1.25). */
  wasmIotlbVsNativeIotlb: number | null;
  wasmIotlbVsNativeIotlbMin: number | null;
  /** batch-nocache / batch: what the context and PASID caches save. */
  nocacheVsBatch: number;
  /** batch-iotlb / batch: what the IOTLB saves (below 1) or costs. */
  iotlbVsBatch: number;
  /** batch-nocache / reference (target <= 1/3): both walk every structure, neither caches. */
  wasmVsReference: number;
  /** reference / batch-nocache: how many times faster the WASM walk is (target >= 3). */
  referenceSpeedup: number;
  /** single / batch. */
  singleVsBatch: number;
  meetsNativeTarget: boolean | null;
  meetsNativeIotlbTarget: boolean | null;
  meetsReferenceTarget: boolean;
}

interface RatioSummary { count: number; geomean: number | null; geomeanMin: number | null; worst: { scenario: string; value: number } | null; withinTarget: number }

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
    dmaRequests: number;
    dmaReps: number;
    paths: Record<'batch' | 'batch-nocache' | 'batch-iotlb' | 'single' | 'reference' | 'dma', string>;
    tables: { density: number; pages: Record<string, number>; ramMiB: number };
    replay: { image: string; imageFormat: string; requestList: string; requestFormat: string; requests: number; used: number } | null;
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
    wasmVsNative: RatioSummary;
    wasmIotlbVsNativeIotlb: RatioSummary;
    referenceSpeedup: { count: number; geomean: number | null; worst: { scenario: string; value: number } | null; meetingTarget: number };
    singleVsBatch: { count: number; geomean: number | null; min: number | null; max: number | null };
    nocacheVsBatch: { count: number; geomean: number | null };
    iotlbVsBatch: { count: number; geomean: number | null };
    iotlbHitPercent: { count: number; min: number | null; max: number | null };
    dma: { count: number; nsGeomean: number | null; dmaVsBatchGeomean: number | null; batchMismatches: number };
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
  dmaRequests: number;
  dmaReps: number;
  warmupPasses: number;
}

const NATIVE_SID = (0 << 8) | (3 << 3); // 00:03.0
const FAULT_INTERRUPT = 0x87;

/** Every scenario name a mode knows: synthetic, dma (device DMA through bound nested HWPTs) and native. */
export function scenarioNames(mode: Mode, tiny = false): string[] {
  const synth = TABLE_SPECS.flatMap((t) => t.patterns.map((p) => `${t.key}-${p}`));
  const dma = DMA_SPECS.flatMap((t) => t.patterns.map((p) => `${t.key}-${p}`));
  const nat = nativeConfigs(tiny ? 'tiny' : mode).flatMap((c) => c.patterns.map((p) => `${c.key}-${p}`));
  return [...synth, ...dma, ...nat];
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
  // Next to the CLI bundle (dist/cli.js -> dist/vtd-core.wasm); asc's output build/vtd-core.wasm
  // from the sources (vitest); dist/ from the sources.
  const candidates = ['./vtd-core.wasm', '../build/vtd-core.wasm', '../dist/vtd-core.wasm'];
  for (const c of candidates) {
    const p = fileURLToPath(new URL(c, import.meta.url));
    if (existsSync(p)) return { path: p, bytes: Uint8Array.from(readFileSync(p)) };
  }
  return undefined;
}

function sameResult(r: TranslateResult, fault: number, address: bigint): boolean {
  return r.ok ? fault === 0 && r.address === address : r.fault.reason === fault;
}

interface Unit { vtd: Vtd; batch: TranslationBatch }
type UnitName = keyof typeof UNIT_CACHES;
type Units = Record<UnitName, Unit>;

interface MeasureInput {
  name: string;
  kind: Kind | 'replay';
  levels: number | null;
  pageSize: number | null;
  pattern: Pattern | 'trace';
  tablesMiB?: number;
  secondStage?: { levels: number; pageSize: number };
  units: Units;
  reqs: RequestSet;
  env: RefEnv;
  /** native_walk's results for these requests, and its own timings (native scenarios). */
  expected?: BigUint64Array;
  native?: { walk: NativeResult; iotlb?: NativeResult };
}

interface Check { checked: number; mismatches: number; against: ScenarioRow['checkedAgainst']; known?: number; samples?: string[] }

type RowInput = Pick<MeasureInput, 'name' | 'kind' | 'levels' | 'pageSize' | 'pattern' | 'tablesMiB' | 'secondStage'>;

function row(inp: RowInput, path: Path, requests: number, reps: number, ns: NsStats, faults: number, check: Check): ScenarioRow {
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

/** How many times a pass over `n` requests repeats so that one repetition translates at least `target`. */
const innerFor = (n: number, target: number): number => Math.max(1, Math.ceil(target / n));

/**
 * Times the batch path of one unit. Warm-up: many short calls (V8 tiers the core up from
 * Liftoff to TurboFan in the background), a pause for that compile, then full untimed passes
 * (caches, A/D bits) until one is within 5% of the best. Each timed repetition is `inner`
 * calls over all `n` requests; with `flush`, the unit's caches are emptied before each one
 * (outside the timing) and the IOTLB hits and misses of the timed calls are counted.
 */
async function timeBatch(u: Unit, n: number, inner: number, cfg: RunConfig, flush: boolean, what: string) {
  const { vtd, batch } = u;
  const small = Math.min(n, 4096);
  const w0 = performance.now();
  for (let i = 0; i < 200 && (i < 32 || performance.now() - w0 < 25); i++) vtd.translateBatch(batch, small);
  await sleep(5);
  const passes: number[] = [];
  for (let i = 0; i < cfg.warmupPasses + 8; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < inner; j++) vtd.translateBatch(batch, n);
    const dt = Number(process.hrtime.bigint() - t0);
    const best = passes.length ? Math.min(...passes) : Infinity;
    passes.push(dt);
    if (i + 1 >= cfg.warmupPasses && dt <= best * 1.05) break;
  }
  collect();
  const per: number[] = [];
  let faults = -1;
  let hits = 0;
  let misses = 0;
  for (let r = 0; r < cfg.reps; r++) {
    if (flush) {
      vtd.caches.flush();
      vtd.caches.resetStats();
    }
    let f = 0;
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < inner; j++) f = vtd.translateBatch(batch, n);
    const t1 = process.hrtime.bigint();
    per.push(Number(t1 - t0) / (n * inner));
    if (faults >= 0 && f !== faults) throw new Error(`${what}: fault count changed between repetitions (${faults}, then ${f})`);
    faults = f;
    if (flush) {
      const s = vtd.caches.stats();
      hits += s.iotlbHits;
      misses += s.iotlbMisses;
    }
  }
  return { ns: summarize(per), faults: faults * inner, hits, misses };
}

/** Compares a unit's batch results with the primary batch unit's, exactly (fault reason and address). */
function compareUnits(a: TranslationBatch, b: TranslationBatch, n: number, what: string): Check {
  const fa = a.fault;
  const fb = b.fault;
  const aa = new Uint32Array(a.address.buffer, a.address.byteOffset, 2 * n);
  const ab = new Uint32Array(b.address.buffer, b.address.byteOffset, 2 * n);
  let mism = 0;
  const samples: string[] = [];
  for (let i = 0; i < n; i++) {
    if (fa[i] !== fb[i] || (fa[i] === 0 && (aa[2 * i] !== ab[2 * i] || aa[2 * i + 1] !== ab[2 * i + 1]))) {
      mism++;
      if (samples.length < 5) {
        samples.push(`#${i}: ${what} ${fb[i] ? `fault ${hex(fb[i]!)}` : hex(b.address[i]!)}, batch ${fa[i] ? `fault ${hex(fa[i]!)}` : hex(a.address[i]!)}`);
      }
    }
  }
  return { checked: n, mismatches: mism, against: 'batch', samples };
}

/** One scenario on every path; the native numbers come from the native_walk run. */
async function measure(inp: MeasureInput, cfg: RunConfig, step: (label: string) => void): Promise<{ rows: ScenarioRow[]; ratio: RatioRow }> {
  const { units, reqs } = inp;
  const n = reqs.n;
  for (const u of Object.values(units)) {
    u.batch.sid.set(reqs.sid);
    u.batch.pasid.set(reqs.pasid);
    u.batch.iova.set(reqs.iova);
    u.batch.flags.set(reqs.flags);
  }
  const inner = innerFor(n, cfg.batchRequests);
  const rows: ScenarioRow[] = [];

  // --- The measured batch path: context + PASID caches, no IOTLB.
  const b = await timeBatch(units.batch, n, inner, cfg, false, `${inp.name} batch`);
  step(`${inp.name} batch`);
  const faultOut = units.batch.batch.fault;
  const addrOut = units.batch.batch.address;

  // --- Native: its own timing (same tables, same requests); batch results checked against its expected results.
  let batchCheck: Check | undefined;
  if (inp.expected) {
    const exp32 = new Uint32Array(inp.expected.buffer, inp.expected.byteOffset, 2 * n);
    const out32 = new Uint32Array(addrOut.buffer, addrOut.byteOffset, 2 * n);
    let mism = 0;
    let known = 0;
    const samples: string[] = [];
    for (let i = 0; i < n; i++) {
      const lo = exp32[2 * i]!;
      const hi = exp32[2 * i + 1]!;
      const f = faultOut[i]!;
      const nf = hi === 0xffff_ffff && lo >= 0xffff_ff00;
      let bad: boolean;
      if (nf) {
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
          samples.push(`#${i} pasid ${hex(reqs.pasid[i]!)} iova ${hex(reqs.iova[i]!)}: native ${hex(inp.expected[i]!)}, ` +
            `vtd-emu ${f ? `fault ${hex(f)}` : hex(addrOut[i]!)}`);
        }
      }
    }
    batchCheck = { checked: n, mismatches: mism, against: 'native-expected', known, samples };
  }
  let nativeFaults = 0;
  if (inp.expected) {
    const e = inp.expected;
    for (let i = 0; i < n; i++) if (e[i]! >= 0xffff_ffff_ffff_ff00n) nativeFaults++;
  }
  if (inp.native) {
    const w = inp.native.walk;
    rows.push(row(inp, 'native', n, cfg.reps, { median: w.medNs, min: w.minNs, max: null }, nativeFaults, { checked: 0, mismatches: 0, against: null }));
  }

  // --- No caches, and every cache: the same requests, results compared with the batch unit's.
  const nc = await timeBatch(units['batch-nocache'], n, inner, cfg, false, `${inp.name} batch-nocache`);
  const ncCheck = compareUnits(units.batch.batch, units['batch-nocache'].batch, n, 'batch-nocache');
  step(`${inp.name} batch-nocache`);
  const io = await timeBatch(units['batch-iotlb'], n, inner, cfg, true, `${inp.name} batch-iotlb`);
  const ioCheck = compareUnits(units.batch.batch, units['batch-iotlb'].batch, n, 'batch-iotlb');
  const hitPercent = io.hits + io.misses ? round2((100 * io.hits) / (io.hits + io.misses)) : 0;
  step(`${inp.name} batch-iotlb`);
  if (inp.native?.iotlb) {
    const t = inp.native.iotlb;
    const r = row(inp, 'native-iotlb', n, cfg.reps, { median: t.medNs, min: t.minNs, max: null }, nativeFaults, { checked: 0, mismatches: 0, against: null });
    r.iotlb = { hitPercent: t.percent, hits: null, misses: null };
    rows.push(r);
  }

  // --- Single call (vtd.translate on the batch unit) on the first requests of the same stream.
  const vtd = units.batch.vtd;
  const m = Math.min(n, cfg.singleRequests);
  const mInner = innerFor(m, cfg.singleRequests);
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
  collect();
  let singleFaults = 0;
  const st: number[] = [];
  for (let r = 0; r < cfg.reps; r++) {
    let f = 0;
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < mInner; j++) for (let i = 0; i < m; i++) if (!vtd.translate(objs[i]!).ok) f++;
    st.push(Number(process.hrtime.bigint() - t0) / (m * mInner));
    singleFaults = f;
  }
  step(`${inp.name} single`);

  // --- Pure-TS reference walker on the first requests of the same stream.
  const k = Math.min(n, cfg.referenceRequests);
  const kInner = innerFor(k, cfg.referenceRequests);
  const refObjs = objs.length >= k ? objs : Array.from({ length: k }, (_, i) => requestObject(reqs, i));
  let refMism = 0;
  const refSamples: string[] = [];
  for (let i = 0; i < k; i++) {
    const r = refTranslate(inp.env, refObjs[i]!);
    if (!sameResult(r, faultOut[i]!, addrOut[i]!)) {
      refMism++;
      if (refSamples.length < 5) refSamples.push(`#${i}: reference ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v))}, batch fault ${faultOut[i]} address ${hex(addrOut[i]!)}`);
    }
  }
  for (let p = 1; p < cfg.warmupPasses; p++) for (let i = 0; i < k; i++) refTranslate(inp.env, refObjs[i]!);
  collect();
  let refFaults = 0;
  const rt: number[] = [];
  for (let r = 0; r < cfg.referenceReps; r++) {
    let f = 0;
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < kInner; j++) for (let i = 0; i < k; i++) if (!refTranslate(inp.env, refObjs[i]!).ok) f++;
    rt.push(Number(process.hrtime.bigint() - t0) / (k * kInner));
    refFaults = f;
  }
  step(`${inp.name} reference`);

  if (!batchCheck) batchCheck = { checked: k, mismatches: refMism, against: 'reference', samples: refSamples };
  const ss = summarize(st);
  const rs = summarize(rt);
  const batchRow = row(inp, 'batch', n * inner, cfg.reps, b.ns, b.faults, batchCheck);
  const ncRow = row(inp, 'batch-nocache', n * inner, cfg.reps, nc.ns, nc.faults, ncCheck);
  const ioRow = row(inp, 'batch-iotlb', n * inner, cfg.reps, io.ns, io.faults, ioCheck);
  ioRow.iotlb = { hitPercent, hits: io.hits, misses: io.misses };
  const nat = rows.find((r) => r.path === 'native');
  const natIo = rows.find((r) => r.path === 'native-iotlb');
  rows.length = 0;
  // Each native row next to the WASM row it is compared with.
  rows.push(batchRow, ...(nat ? [nat] : []), ioRow, ...(natIo ? [natIo] : []), ncRow);
  rows.push(row(inp, 'single', m * mInner, cfg.reps, ss, singleFaults, { checked: m, mismatches: singleMism, against: 'batch', samples: singleSamples }));
  rows.push(row(inp, 'reference', k * kInner, cfg.referenceReps, rs, refFaults, { checked: k, mismatches: refMism, against: 'batch', samples: refSamples }));

  const ratio = (a: number | null, c: number | null) => (a === null || c === null || c === 0 ? null : Math.round((a / c) * 1000) / 1000);
  const nw = inp.native?.walk;
  const ni = inp.native?.iotlb;
  const wasmVsNative = ratio(b.ns.median, nw?.medNs ?? null);
  const wasmIotlb = ratio(io.ns.median, ni?.medNs ?? null);
  const referenceSpeedup = ratio(rs.median, nc.ns.median)!;
  return {
    rows,
    ratio: {
      scenario: inp.name,
      batchNs: round2(b.ns.median),
      nocacheNs: round2(nc.ns.median),
      iotlbNs: round2(io.ns.median),
      iotlbHitPercent: hitPercent,
      singleNs: round2(ss.median),
      referenceNs: round2(rs.median),
      nativeNs: nw?.medNs ?? null,
      nativeIotlbNs: ni?.medNs ?? null,
      nativeIotlbHitPercent: ni?.percent ?? null,
      wasmVsNative,
      wasmVsNativeMin: ratio(b.ns.min, nw?.minNs ?? null),
      wasmIotlbVsNativeIotlb: wasmIotlb,
      wasmIotlbVsNativeIotlbMin: ratio(io.ns.min, ni?.minNs ?? null),
      nocacheVsBatch: ratio(nc.ns.median, b.ns.median)!,
      iotlbVsBatch: ratio(io.ns.median, b.ns.median)!,
      wasmVsReference: ratio(nc.ns.median, rs.median)!,
      referenceSpeedup,
      singleVsBatch: ratio(ss.median, b.ns.median)!,
      meetsNativeTarget: wasmVsNative === null ? null : wasmVsNative <= TARGETS.wasmVsNativeMax,
      meetsNativeIotlbTarget: wasmIotlb === null ? null : wasmIotlb <= TARGETS.wasmVsNativeMax,
      meetsReferenceTarget: referenceSpeedup >= TARGETS.referenceSpeedupMin,
    },
  };
}

const fmtDma = (ok: boolean, a: bigint | undefined): string => (ok && a !== undefined ? hex(a) : 'fault');

/**
 * One dma-* scenario: the stream as sim.dmaBatch calls (one per PASID and access), timed as a
 * whole pass per repetition; every result checked against the guest's mapping; and
 * vtd.translateBatch on the same requests (same unit), its GPA through the IOAS mapping
 * compared with what the DMA got.
 */
async function measureDma(
  s: DmaSetup, unitBatch: TranslationBatch, name: string, pattern: Pattern, cfg: RunConfig, seed: bigint,
): Promise<{ row: ScenarioRow; dma: DmaInfo }> {
  const n = cfg.dmaRequests;
  const reqs = generateDmaRequests(s, pattern, n, seed);
  const calls = groupDmaCalls(reqs);
  const { sim } = s;
  const devId = s.dev.devId;
  const pass = (): number => {
    let f = 0;
    for (const g of calls.groups) f += sim.dmaBatch(devId, g.pasid, g.iovas, g.access, { out: g.out }).faults;
    return f;
  };

  // Warm-up: full passes (the data path is JavaScript: V8 optimizes it after a few calls) until
  // one is within 5% of the best; then the timed repetitions, one pass each.
  const passes: number[] = [];
  for (let i = 0; i < cfg.warmupPasses + 8; i++) {
    const t0 = process.hrtime.bigint();
    pass();
    const dt = Number(process.hrtime.bigint() - t0);
    const best = passes.length ? Math.min(...passes) : Infinity;
    passes.push(dt);
    if (i + 1 >= cfg.warmupPasses && dt <= best * 1.05) break;
  }
  collect();
  const per: number[] = [];
  let faults = -1;
  for (let r = 0; r < cfg.dmaReps; r++) {
    const t0 = process.hrtime.bigint();
    const f = pass();
    per.push(Number(process.hrtime.bigint() - t0) / n);
    if (faults >= 0 && f !== faults) throw new Error(`${name} dma: fault count changed between repetitions (${faults}, then ${f})`);
    faults = f;
  }
  const ns = summarize(per);

  // Every result against the guest's mapping.
  const expected = expectedDma(s, reqs);
  let mism = 0;
  const samples: string[] = [];
  const gotAt: { ok: boolean; address: bigint }[] = new Array(n);
  for (let j = 0; j < n; j++) gotAt[calls.order[j]!] = { ok: calls.ok[j] === 1, address: calls.address[j]! };
  const desc = (i: number): string => `#${i} pasid ${reqs.pasid[i] === NO_PASID ? 'none' : reqs.pasid[i]} iova ${hex(reqs.iova[i]!)} ${reqs.flags[i]! & 1 ? 'w' : 'r'}`;
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = gotAt[i]!;
    if (g.ok !== (e !== undefined) || (g.ok && g.address !== e)) {
      mism++;
      if (samples.length < 5) samples.push(`${desc(i)}: dma ${fmtDma(g.ok, g.address)}, guest mapping ${fmtDma(e !== undefined, e)}`);
    }
  }

  // vtd.translateBatch on the same requests: the same GPA before stage 2.
  unitBatch.sid.set(reqs.sid);
  unitBatch.pasid.set(reqs.pasid);
  unitBatch.iova.set(reqs.iova);
  unitBatch.flags.set(reqs.flags);
  const b = await timeBatch({ vtd: s.vtd, batch: unitBatch }, n, 1, cfg, false, `${name} translateBatch`);
  const fault = unitBatch.fault;
  const addr = unitBatch.address;
  let bMism = 0;
  for (let i = 0; i < n; i++) {
    const h = fault[i] === 0 ? stage2(s.areas, addr[i]!, (reqs.flags[i]! & 1) !== 0) : undefined;
    const g = gotAt[i]!;
    if (g.ok !== (h !== undefined) || (g.ok && g.address !== h)) {
      bMism++;
      if (samples.length < 5) {
        samples.push(`${desc(i)}: dma ${fmtDma(g.ok, g.address)}, translateBatch ${fault[i] ? `fault ${hex(fault[i]!)}` : `${hex(addr[i]!)} -> ${fmtDma(h !== undefined, h)}`}`);
      }
    }
  }

  const dma: DmaInfo = {
    pasids: s.tables.length, hwpts: new Set(s.hwpts).size, calls: calls.groups.length, reads: calls.reads, writes: calls.writes,
    batchNs: round2(b.ns.median), batchFaults: b.faults, dmaVsBatch: Math.round((ns.median / b.ns.median) * 1000) / 1000,
    batchChecked: n, batchMismatches: bMism,
  };
  const r = row({
    name, kind: 'first-stage', levels: 4, pageSize: s.spec.pageSize, pattern, tablesMiB: (s.tablePages * 4096) / 2 ** 20,
  }, 'dma', n, cfg.dmaReps, ns, faults, { checked: n, mismatches: mism, against: 'guest-mapping', samples });
  r.dma = dma;
  return { row: r, dma };
}

let gcFn: (() => void) | null | undefined;

/** A full GC before a timed section: node's --expose-gc, or the flag turned on at run time. */
function collect(): void {
  if (gcFn === undefined) {
    gcFn = null;
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      try {
        setFlagsFromString('--expose-gc');
        const h = runInNewContext('gc') as unknown;
        if (typeof h === 'function') gcFn = h as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  gcFn?.();
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

async function createUnit(opts: VtdOptions, caches: CacheOptions, n: number): Promise<Unit> {
  const vtd = await Vtd.create({ ...opts, caches });
  if (caches === false && vtd.caches.enabled) throw new Error('could not turn the translation caches off');
  return { vtd, batch: vtd.createBatch(n) };
}

/** The three batch units over the same RAM layout. */
async function createUnits(opts: VtdOptions, n: number): Promise<Units> {
  return {
    batch: await createUnit(opts, UNIT_CACHES.batch, n),
    'batch-nocache': await createUnit(opts, UNIT_CACHES['batch-nocache'], n),
    'batch-iotlb': await createUnit(opts, UNIT_CACHES['batch-iotlb'], n),
  };
}

/** The three units loaded with an image (each its own copy of guest RAM). */
async function unitsFromImage(img: GuestImage, module: WebAssembly.Module | undefined, n: number): Promise<Units> {
  const make = async (c: CacheOptions): Promise<Unit> => {
    const vtd = await unitFromImage(img, { caches: c, ...(module ? { wasm: module } : {}) });
    return { vtd, batch: vtd.createBatch(n) };
  };
  return { batch: await make(UNIT_CACHES.batch), 'batch-nocache': await make(UNIT_CACHES['batch-nocache']), 'batch-iotlb': await make(UNIT_CACHES['batch-iotlb']) };
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
    ? {
      mode, tiny, seed, reps, referenceReps: Math.min(reps, 3), batchRequests: 4096, singleRequests: 1024, referenceRequests: 256,
      dmaRequests: DMA_REQUESTS.tiny, dmaReps: reps, warmupPasses: 1,
    }
    : {
      mode, tiny, seed, reps, referenceReps: Math.min(reps, 5), batchRequests: 1 << 20,
      singleRequests: mode === 'full' ? 1 << 18 : 1 << 17, referenceRequests: mode === 'full' ? 1 << 15 : 1 << 14,
      dmaRequests: DMA_REQUESTS[mode], dmaReps: mode === 'full' ? reps : Math.min(reps, 5), warmupPasses: 3,
    };
  const replay = options.replay;
  const filters = options.scenarios ?? [];
  if (replay && filters.length) throw new BenchArgumentError('--scenario does not apply to a replay (--image/--requests)');
  const selected = replay ? new Set<string>() : selectScenarios(scenarioNames(mode, tiny), filters);
  const bigSeed = BigInt(seed);

  const wasmFile = locateWasm();
  const module = wasmFile ? await WebAssembly.compile(wasmFile.bytes) : undefined;
  const vtdOpts = (ramBytes: number): VtdOptions => ({ memory: { size: ramBytes }, caps: { nest: true }, ...(module ? { wasm: module } : {}) });
  const notes: string[] = [
    'ns are per translation: the time of a whole batch call (or loop of single calls) divided by its requests.',
    'median = the middle repetition after sorting (sorted[floor(reps/2)], as native_walk); perSecond = 1e9 / median.',
    'batch = context and PASID caches on, IOTLB off (every request walks the page tables); batch-nocache = no caches (root, context, PASID directory and entry read every time); batch-iotlb = every cache at its default size, flushed before each timed repetition.',
    'native rows come from native_walk\'s own RESULT lines (mode=walk: no cache, reads the PASID directory and entry every time; mode=iotlb: a 4096-entry 4-way IOTLB cleared before each repetition); it prints min and median only, so ns.max is null.',
    'native_walk checks present/RW only; vtd-emu does the full VT-d checks (context, PASID entry, reserved bits, U/S) and A/D updates on the same tables.',
    'batch rows are checked against native_walk\'s expected results (a native fault matches any vtd-emu fault) or, without them, against the reference walker; batch-nocache, batch-iotlb, single and reference rows against the batch results.',
    'referenceSpeedup = reference / batch-nocache: neither caches, both read every structure.',
  ];
  const rows: ScenarioRow[] = [];
  const ratios: RatioRow[] = [];

  // Progress: five measured paths per scenario, one step per native_walk run, one per dma scenario.
  const synthSel = [...selected].filter((s) => !s.startsWith('native-') && !s.startsWith('dma-')).length;
  const dmaSpecs = DMA_SPECS.filter((t) => t.patterns.some((p) => selected.has(`${t.key}-${p}`)));
  const dmaSel = [...selected].filter((s) => s.startsWith('dma-')).length;
  const natCfgs = replay ? [] : nativeConfigs(sizeKey).filter((c) => c.patterns.some((p) => selected.has(`${c.key}-${p}`)));
  const natSel = [...selected].filter((s) => s.startsWith('native-')).length;
  const useNative = natCfgs.length > 0 && options.native !== false;
  const total = 5 * synthSel + dmaSel + (useNative ? 5 * natSel + natCfgs.length : 0) + (replay ? 5 : 0);
  let done = 0;
  const step = (label: string) => options.progress?.(Math.min(++done, total), total, label);
  options.progress?.(0, total, 'starting');

  // ---------------- replay of a user's trace
  let replayInfo: BenchReport['config']['replay'] = null;
  if (replay) {
    const n = Math.min(replay.requests.n, REPLAY_MAX_REQUESTS);
    if (n === 0) throw new BenchArgumentError(`${replay.source.requests}: the request list is empty`);
    replayInfo = {
      image: replay.source.image, imageFormat: replay.source.imageFormat, requestList: replay.source.requests,
      requestFormat: replay.source.requestFormat, requests: replay.requests.n, used: n,
    };
    if (n < replay.requests.n) notes.push(`replay: the first ${n} of ${replay.requests.n} requests were measured (one batch holds at most ${REPLAY_MAX_REQUESTS}).`);
    const units = await unitsFromImage(replay.image, module, n);
    const env = refEnvOf(units['batch-nocache'].vtd);
    const r = replay.requests;
    const reqs: RequestSet = { n, sid: r.sid.subarray(0, n), pasid: r.pasid.subarray(0, n), iova: r.iova.subarray(0, n), flags: r.flags.subarray(0, n) };
    await settle();
    const res = await measure({
      name: replay.name, kind: 'replay', levels: replay.levels ?? null, pageSize: replay.pageSize ?? null, pattern: 'trace',
      units, reqs, env, ...(replay.expected ? { expected: replay.expected.subarray(0, n) } : {}),
    }, cfg, step);
    rows.push(...res.rows);
    ratios.push(res.ratio);
    log(`${replay.name}: batch ${res.ratio.batchNs} ns, nocache ${res.ratio.nocacheNs} ns, iotlb ${res.ratio.iotlbNs} ns (${res.ratio.iotlbHitPercent}% hits), reference ${res.ratio.referenceNs} ns`);
  }

  // ---------------- synthetic scenarios (GuestBuilder tables, copied into the three units)
  const specs = TABLE_SPECS.filter((t) => t.patterns.some((p) => selected.has(`${t.key}-${p}`)));
  if (specs.length) {
    const units = await createUnits(vtdOpts(sizes.ramBytes), cfg.batchRequests);
    const g = createSyntheticGuest(units.batch.vtd, sizes.ramBytes);
    const built: BuiltTable[] = [];
    for (const spec of specs) {
      const t0 = performance.now();
      const b = buildTable(g, spec, sizes, bigSeed);
      built.push(b);
      options.progress?.(done, total, `building ${spec.key}`);
      log(`built ${spec.key}: ${sizes.pages[spec.pageSize] ?? 0} pages, ${(b.tablePages * 4096 / 2 ** 20).toFixed(2)} MiB of tables (${(performance.now() - t0).toFixed(0)} ms)`);
    }
    for (const name of ['batch-nocache', 'batch-iotlb'] as const) {
      copyGuestRam(units.batch.vtd, units[name].vtd);
      units[name].vtd.setRootTable(g.guest.root());
    }
    const env = refEnvOf(units['batch-nocache'].vtd);
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
          units, reqs, env,
        }, cfg, step);
        rows.push(...res.rows);
        ratios.push(res.ratio);
        log(`${name}: batch ${res.ratio.batchNs} ns, nocache ${res.ratio.nocacheNs} ns, iotlb ${res.ratio.iotlbNs} ns (${res.ratio.iotlbHitPercent}% hits), single ${res.ratio.singleNs} ns, reference ${res.ratio.referenceNs} ns`);
      }
    }
  }

  // ---------------- device DMA through bound nested HWPTs (SimIommufd), one unit per table set
  const dmaInfos: DmaInfo[] = [];
  if (dmaSpecs.length) {
    notes.push('dma rows: ns per DMA request of sim.dmaBatch (SimIommufd) through the nested HWPTs the bind path attached after the guest bound its PASID entries through the registers; the stream is split into one call per PASID and access; results checked against the guest\'s mapping (output GPA through the IOAS mapping of guest RAM) and against vtd.translateBatch on the same requests.');
    for (const spec of dmaSpecs) {
      const t0 = performance.now();
      options.progress?.(done, total, `binding ${spec.key}`);
      let setup: DmaSetup | undefined = await createDmaSetup(spec, sizes, bigSeed, { caches: UNIT_CACHES.batch, ...(module ? { wasm: module } : {}) });
      const unitBatch = setup.vtd.createBatch(cfg.dmaRequests);
      log(`bound ${spec.key}: ${setup.tables.length} PASID(s) -> nested HWPT(s) ${setup.hwpts.join(',')}, ${(setup.tablePages * 4096 / 2 ** 20).toFixed(2)} MiB of tables, ${setup.descriptors} descriptors (${(performance.now() - t0).toFixed(0)} ms)`);
      await settle();
      for (const pattern of spec.patterns) {
        const name = `${spec.key}-${pattern}`;
        if (!selected.has(name)) continue;
        const res = await measureDma(setup, unitBatch, name, pattern, cfg, bigSeed);
        rows.push(res.row);
        dmaInfos.push(res.dma);
        step(`${name} dma`);
        log(`${name}: dma ${res.row.ns.median} ns/DMA (${(res.row.perSecond / 1e6).toFixed(2)} M DMA/s, ${res.dma.calls} calls), translateBatch ${res.dma.batchNs} ns (x${res.dma.dmaVsBatch}), mismatches ${res.row.mismatches} + ${res.dma.batchMismatches}`);
      }
      setup = undefined; // free its guest RAM before the next unit
    }
  }

  // ---------------- native images (native_walk --dump, replayed in vtd-emu)
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
      done += 5 * natSel + natCfgs.length;
      options.progress?.(Math.min(done, total), total, 'native skipped');
    } else {
      Object.assign(nativeInfo, { available: true, compiler: tc.compiler, compilerVersion: tc.version, flags: tc.flags, source: tc.source });
      log(`native: ${tc.compiler} ${tc.flags.join(' ')} (${tc.version})`);
      let refRam: Uint8Array[] = [];
      try {
        for (const nc of natCfgs) {
          const patterns = nc.patterns.filter((p) => selected.has(`${nc.key}-${p}`));
          const t0 = performance.now();
          options.progress?.(done, total, `native_walk ${nc.key}`);
          const run = runNative(tc, nc, patterns, { requests: cfg.batchRequests, reps: cfg.reps, seed });
          step(`native_walk ${nc.key}`);
          nativeInfo.runs.push({ key: nc.key, description: nc.description, args: run.args, tablesMiB: run.tablesMiB ?? null });
          log(`native ${nc.key}: ${run.results.map((r) => `${r.pattern} ${r.mode} ${r.medNs} ns`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s incl. build and dump)`);
          const f = readImage(readFileSync(run.imagePath), run.imagePath);
          if (f.format !== 'VTDIMG01') throw new Error(`${run.imagePath}: native_walk wrote a ${f.format} image`);
          const image = nativeToGuestImage(f.native, NATIVE_SID);
          const units = await unitsFromImage(image, module, cfg.batchRequests);
          const env = refEnvOf(units['batch-nocache'].vtd, refRam);
          await settle();
          for (const pattern of patterns) {
            const rf = readRequests(readFileSync(run.requestPath(pattern)), run.requestPath(pattern));
            if (rf.format !== 'VTDREQ01') throw new Error(`${run.requestPath(pattern)}: native_walk wrote a ${rf.format} file`);
            const walk = run.results.find((r) => r.pattern === pattern && r.mode === 'walk');
            const iotlb = run.results.find((r) => r.pattern === pattern && r.mode === 'iotlb');
            if (!walk) throw new Error(`native_walk printed no walk result for ${nc.key} ${pattern}`);
            const file = rf.native;
            const reqs: RequestSet = { n: file.n, sid: new Uint16Array(file.n).fill(NATIVE_SID), pasid: file.pasid, iova: file.iova, flags: file.flags };
            const name = `${nc.key}-${pattern}`;
            const res = await measure({
              name, kind: 'native-image', levels: f.native.levels, pageSize: f.native.bigPages ? 2 ** 21 : 4096, pattern,
              ...(run.tablesMiB !== undefined ? { tablesMiB: run.tablesMiB } : {}),
              units, reqs, env, expected: file.expected,
              native: { walk, ...(iotlb ? { iotlb } : {}) },
            }, cfg, step);
            rows.push(...res.rows);
            ratios.push(res.ratio);
            log(`${name}: native ${walk.medNs} ns, batch ${res.ratio.batchNs} ns (x${res.ratio.wasmVsNative}); native-iotlb ${iotlb?.medNs ?? '-'} ns, batch-iotlb ${res.ratio.iotlbNs} ns (x${res.ratio.wasmIotlbVsNativeIotlb}); reference ${res.ratio.referenceNs} ns`);
          }
        }
      } finally {
        refRam = [];
        disposeNative(tc);
      }
    }
  }

  const dmaBatchMismatches = dmaInfos.reduce((a, d) => a + d.batchMismatches, 0);
  const mismatches = rows.reduce((a, r) => a + r.mismatches, 0) + dmaBatchMismatches;
  const dmaRows = rows.filter((r) => r.path === 'dma');
  const known = rows.reduce((a, r) => a + (r.knownDifferences ?? 0), 0);
  if (known) notes.push(`${known} request(s) translate into the interrupt range 0xFEE00000-0xFEEFFFFF: vtd-emu faults them (0x87, docs/semantics.md §8), native_walk does not check; counted as knownDifferences, not mismatches.`);
  const worst = (v: { scenario: string; value: number }[], cmp: (a: number, b: number) => boolean) =>
    v.reduce<{ scenario: string; value: number } | null>((w, x) => (w === null || cmp(x.value, w.value) ? x : w), null);
  const ratioSummary = (k: 'wasmVsNative' | 'wasmIotlbVsNativeIotlb', kMin: 'wasmVsNativeMin' | 'wasmIotlbVsNativeIotlbMin'): RatioSummary => {
    const v = ratios.filter((r) => r[k] !== null).map((r) => ({ scenario: r.scenario, value: r[k]! }));
    return {
      count: v.length, geomean: geomean(v.map((x) => x.value)),
      geomeanMin: geomean(ratios.filter((r) => r[kMin] !== null).map((r) => r[kMin]!)),
      worst: worst(v, (a, b) => a > b), withinTarget: v.filter((x) => x.value <= TARGETS.wasmVsNativeMax).length,
    };
  };
  const ref = ratios.map((r) => ({ scenario: r.scenario, value: r.referenceSpeedup }));
  const svb = ratios.map((r) => r.singleVsBatch);
  const hits = ratios.map((r) => r.iotlbHitPercent);

  return {
    schema: SCHEMA,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    config: {
      mode, tiny, seed, reps: cfg.reps, referenceReps: cfg.referenceReps,
      batchRequests: cfg.batchRequests, singleRequests: cfg.singleRequests, referenceRequests: cfg.referenceRequests,
      dmaRequests: cfg.dmaRequests, dmaReps: cfg.dmaReps,
      warmup: `batch paths: >=32 calls of ${Math.min(4096, cfg.batchRequests)} requests (>=25 ms), 5 ms pause, then >=${cfg.warmupPasses} untimed full passes until a pass is within 5% of the best (at most ${cfg.warmupPasses + 8}); single/reference: ${cfg.warmupPasses} untimed full pass(es), the first one checks results; dma: >=${cfg.warmupPasses} untimed full passes until one is within 5% of the best (at most ${cfg.warmupPasses + 8})`,
      filters,
      paths: CACHE_NOTES,
      tables: {
        density: sizes.density,
        pages: Object.fromEntries(Object.entries(sizes.pages).map(([k, v]) => [Number(k) === 4096 ? '4k' : Number(k) === 2 ** 21 ? '2m' : '1g', v])),
        ramMiB: sizes.ramBytes / 2 ** 20,
      },
      replay: replayInfo,
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
      scenarios: new Set(rows.map((r) => r.name)).size,
      rows: rows.length,
      mismatches,
      knownDifferences: known,
      wasmVsNative: ratioSummary('wasmVsNative', 'wasmVsNativeMin'),
      wasmIotlbVsNativeIotlb: ratioSummary('wasmIotlbVsNativeIotlb', 'wasmIotlbVsNativeIotlbMin'),
      referenceSpeedup: {
        count: ref.length, geomean: geomean(ref.map((x) => x.value)), worst: worst(ref, (a, b) => a < b),
        meetingTarget: ref.filter((x) => x.value >= TARGETS.referenceSpeedupMin).length,
      },
      singleVsBatch: {
        count: svb.length, geomean: geomean(svb),
        min: svb.length ? Math.min(...svb) : null, max: svb.length ? Math.max(...svb) : null,
      },
      nocacheVsBatch: { count: ratios.length, geomean: geomean(ratios.map((r) => r.nocacheVsBatch)) },
      iotlbVsBatch: { count: ratios.length, geomean: geomean(ratios.map((r) => r.iotlbVsBatch)) },
      iotlbHitPercent: { count: hits.length, min: hits.length ? Math.min(...hits) : null, max: hits.length ? Math.max(...hits) : null },
      dma: {
        count: dmaRows.length, nsGeomean: geomean(dmaRows.map((r) => r.ns.median)),
        dmaVsBatchGeomean: geomean(dmaInfos.map((d) => d.dmaVsBatch)), batchMismatches: dmaBatchMismatches,
      },
    },
    notes,
  };
}
