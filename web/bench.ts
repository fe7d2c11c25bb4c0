/**
 * The translation benchmark, in the page: 4096 mapped 4 KiB pages (first stage, 4-level), a
 * batch of random requests over them, timed with performance.now(). The batch path
 * (vtd.translateBatch: one call into the core for the whole batch) and the single-call path
 * (vtd.translate per request) are measured on the same requests.
 */
import { GuestBuilder, NO_PASID, Vtd, type TranslateRequest } from 'vtd-emu';
import { SID } from './scenarios.js';

export interface BenchPath {
  /** Median over the reps. */
  nsPerTranslation: number;
  translationsPerSecond: number;
  reps: number;
  requests: number;
}

export interface BenchResult {
  pages: number;
  batch: BenchPath;
  single: BenchPath;
  faults: number;
  iotlbHitRate: number;
}

const PAGES = 4096;
const BATCH = 1 << 16;
const SINGLE = 1 << 14;
const IOVA_BASE = 0x7f00_0000_0000n;
const OUT_BASE = 0x1_0000_0000n;

const tick = () => new Promise<void>((r) => setTimeout(r, 0));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** A small seeded PRNG so every run times the same requests. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function path(msPerRep: number[], requests: number): BenchPath {
  const ms = median(msPerRep);
  const ns = (ms * 1e6) / requests;
  return { nsPerTranslation: ns, translationsPerSecond: 1e9 / ns, reps: msPerRep.length, requests };
}

export async function runBenchmark(progress: (what: string) => void, reps = 9): Promise<BenchResult> {
  progress(`building ${PAGES} mapped 4 KiB pages…`);
  const vtd = await Vtd.create({ memory: { size: 64 << 20 } });
  const guest = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 48n << 20n }]);
  const pt = guest.firstStage({ levels: 4 });
  for (let i = 0; i < PAGES; i++) pt.map(IOVA_BASE + BigInt(i) * 4096n, OUT_BASE + BigInt(i) * 4096n, { size: 4096 });
  guest.scalableDevice(SID, { pdts: 0 });
  guest.pasidEntry(SID, 0, { pgtt: 'first-stage', did: 1, fsptptr: pt.root, levels: 4 });
  vtd.setRootTable(guest.root());

  progress(`filling a batch of ${BATCH} random requests…`);
  const rand = rng(0x5eed);
  const batch = vtd.createBatch(BATCH);
  const { sid, pasid, iova, flags } = batch;
  for (let i = 0; i < BATCH; i++) {
    sid[i] = SID;
    pasid[i] = NO_PASID;
    iova[i] = IOVA_BASE + BigInt(Math.floor(rand() * PAGES)) * 4096n + BigInt(Math.floor(rand() * 4096) & ~7);
    flags[i] = rand() < 0.5 ? 1 : 0;
  }
  const single: TranslateRequest[] = [];
  for (let i = 0; i < SINGLE; i++) single.push({ sid: SID, iova: iova[i]!, write: flags[i] === 1 });

  progress('warming up…');
  let faults = 0;
  for (let w = 0; w < 3; w++) faults = vtd.translateBatch(batch, BATCH);
  for (const r of single) vtd.translate(r);
  await tick();

  const batchMs: number[] = [];
  vtd.caches.resetStats();
  for (let r = 0; r < reps; r++) {
    progress(`batch path: rep ${r + 1}/${reps}`);
    await tick();
    const t0 = performance.now();
    faults = vtd.translateBatch(batch, BATCH);
    batchMs.push(performance.now() - t0);
  }
  const { iotlbHits, iotlbMisses } = vtd.caches.stats();

  const singleMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    progress(`single-call path: rep ${r + 1}/${reps}`);
    await tick();
    const t0 = performance.now();
    for (let i = 0; i < single.length; i++) vtd.translate(single[i]!);
    singleMs.push(performance.now() - t0);
  }

  return {
    pages: PAGES,
    batch: path(batchMs, BATCH),
    single: path(singleMs, SINGLE),
    faults,
    iotlbHitRate: iotlbHits / Math.max(1, iotlbHits + iotlbMisses),
  };
}
