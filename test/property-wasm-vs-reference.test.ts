/**
 * The WASM walker and the independent TypeScript reference agree — on every result and on
 * every A/D bit they write — for random valid tables, for those tables with random bits
 * flipped, for random bytes used as tables, and for random requests. (Over 10^5 requests.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_PASID, type Caps, type TranslateRequest, type TranslateResult, type TranslationBatch } from '../src/index.js';
import { GuestBuilder } from '../src/guest/index.js';
import { Pair, Rng, type RegionLayout } from './support/harness.js';

const CAP_PRESETS: Partial<Caps>[] = [
  {},
  { nest: true },
  { nest: true, haw: 39, mgaw: 39, sagaw: 0b0010, fs1gp: false },
  { nest: true, rps: true, dt: true, sslps: 1, sagaw: 0b1110, mgaw: 57, haw: 52 },
  { fs5lp: false, ers: false, srs: false, pt: false, sslps: 0 },
  { fsts: false, haw: 40 },
  { ssts: false, rps: true, haw: 46, mgaw: 46 },
];

const HI = 1n << 32n;
// Small RAM so random pointers often land in it: 4 pages at 0, one page whose address has
// bits 30:20 set (so large-page reserved masks see address bits), two pages above 4 GiB.
const HOSTILE_LAYOUT = [{ base: 0n, size: 16384 }, { base: 0x7ff0_0000n, size: 4096 }, { base: HI + 0x10_0000n, size: 8192 }];
const HOSTILE_PAGES = [0n, 0x1000n, 0x2000n, 0x3000n, 0x7ff0_0000n, HI + 0x10_0000n, HI + 0x10_1000n];
const OUTSIDE = [0x4000n, 0x7fff_f000n, HI + 0x2000n, HI - 0x1000n, 0x7ff0_1000n];
// Flag patterns that make entries look like real ones (P, R/W, U/S, PS, PGTT, AW ...).
const LOW_BITS = [0x1, 0x3, 0x5, 0x7, 0x27, 0x67, 0x87, 0xa7, 0xe7, 0x9, 0x41, 0x49, 0x81, 0x89, 0x8d, 0xc9, 0x101, 0x107, 0x203, 0x401];

/** One qword of hostile memory: pointer-like, flag-like, zero or plain random. */
function hostileQword(rng: Rng, dv: DataView, off: number): void {
  const k = rng.int(100);
  let lo = 0, hi = 0;
  if (k < 45) {
    const page = rng.chance(0.08) ? rng.pick(OUTSIDE) : rng.pick(HOSTILE_PAGES);
    const low = rng.chance(0.35) ? 0x1 : rng.chance(0.8) ? rng.pick(LOW_BITS) : rng.u32() & 0xfff;
    lo = Number(page & 0xffff_f000n) | low;
    hi = Number(page >> 32n);
    if (rng.chance(0.3)) hi |= 0x8000_0000; // XD
    if (rng.chance(0.05)) hi |= 1 << (20 + rng.int(11)); // bits 62:52
    if (rng.chance(0.05)) hi |= 1 << (7 + rng.int(13)); // address bits 51:39
    if (rng.chance(0.1)) lo |= 0x10 << rng.int(3); // SRE/ERE/FSPM-ish bits
  } else if (k < 55) {
    lo = rng.pick(LOW_BITS);
  } else if (k < 90) {
    // zero
  } else {
    lo = rng.u32();
    hi = rng.u32();
  }
  dv.setUint32(off, lo >>> 0, true);
  dv.setUint32(off + 4, hi >>> 0, true);
}

function hostileIova(rng: Rng): bigint {
  const k = rng.int(10);
  if (k < 5) {
    // Canonical for 4- or 5-level paging, built from random table indices.
    const bits = rng.chance(0.5) ? 48n : 57n;
    const v = rng.u64() & ((1n << bits) - 1n);
    return rng.chance(0.3) && v >> (bits - 1n) ? BigInt.asUintN(64, v | (~0n << bits)) : v & ((1n << (bits - 1n)) - 1n);
  }
  if (k < 7) return BigInt(rng.u32() & 0x3fff_ffff);
  if (k < 8) return 0xfee0_0000n + BigInt(rng.int(1 << 20));
  return rng.u64();
}

function hostileRequest(rng: Rng): TranslateRequest {
  const bus = rng.chance(0.8) ? rng.int(4) : rng.int(256);
  const pasid = rng.chance(0.4) ? undefined : rng.chance(0.85) ? rng.int(256) : rng.int(1 << 20);
  return {
    sid: (bus << 8) | rng.int(256),
    pasid,
    iova: hostileIova(rng),
    write: rng.chance(0.4),
    exec: rng.chance(0.15),
    priv: rng.chance(0.25),
  };
}

const pairs: Pair[] = [];
beforeAll(async () => {
  // Each preset twice: every cache at its default, and the IOTLB off (the batch's walk-only loops).
  for (const caps of CAP_PRESETS) pairs.push(await Pair.create(HOSTILE_LAYOUT, caps), await Pair.create(HOSTILE_LAYOUT, caps, { iotlb: 0 }));
});

// VTD_PROP_STATS=1 prints how often each outcome occurred, to check the generators reach deep.
const stats = new Map<string, number>();
afterAll(() => {
  if (process.env.VTD_PROP_STATS) console.log([...stats].sort().map(([k, n]) => `${k}: ${n}`).join('\n'));
});

function expectAgreement(pair: Pair, what: () => { wasm: TranslateResult; ref: TranslateResult }, describeCase: () => string): TranslateResult {
  const { wasm, ref } = what();
  if (process.env.VTD_PROP_STATS) {
    const k = expect.getState().currentTestName!.slice(0, 20) + ' ' + (wasm.ok ? `ok ${wasm.pageSize}` : `0x${wasm.fault.reason.toString(16)}`);
    stats.set(k, (stats.get(k) ?? 0) + 1);
  }
  if (JSON.stringify(wasm, big) !== JSON.stringify(ref, big)) {
    throw new Error(`results differ for ${describeCase()}:\n wasm ${JSON.stringify(wasm, big)}\n  ref ${JSON.stringify(ref, big)}`);
  }
  const diff = pair.memoryDiff();
  if (diff) throw new Error(`memory differs after ${describeCase()}: ${diff}`);
  return wasm;
}
const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);
const show = (x: unknown) => JSON.stringify(x, big);

describe('WASM walker == reference walker', () => {
  it('on random bytes used as tables, in scalable and legacy mode (10,000 memories x 25 requests)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(CAP_PRESETS.length - 1), fc.nat(4), (seed, preset, mode) => {
        const pair = pairs[preset * 2 + (seed & 1)]!;
        const rng = new Rng(seed);
        pair.load((_i, bytes) => {
          const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          for (let off = 0; off < bytes.length; off += 8) hostileQword(rng, dv, off);
        });
        const scalable = mode !== 0 || !pair.env.caps.smts; // one run in five in legacy mode
        pair.setRoot(rng.chance(0.05) ? rng.pick(OUTSIDE) : rng.pick(HOSTILE_PAGES), scalable);
        const start = pair.layout.map((r) => pair.vtd.memory.read(r.base, r.size));
        const reqs: TranslateRequest[] = [];
        for (let i = 0; i < 25; i++) {
          const req = hostileRequest(rng);
          reqs.push(req);
          expectAgreement(pair, () => pair.translate(req), () => `seed ${seed} preset ${preset} ${scalable ? 'scalable' : 'legacy'} request ${show(req)}`);
        }
        // The batch (each request twice: the second time its fast path sees what the first
        // set) equals the same requests one by one on a cached unit, answers and memory: its
        // fast path must never read past region 0 or defer wrongly on hostile tables.
        const back = () => {
          pair.layout.forEach((r, k) => pair.vtd.memory.write(r.base, start[k]!));
          pair.vtd.caches.flush();
        };
        const twice = [...reqs, ...reqs];
        back();
        const one = twice.map((r) => short(pair.vtd.translate(r)));
        const afterOne = pair.layout.map((r) => pair.vtd.memory.read(r.base, r.size));
        back();
        const got = batchAnswers(pair, twice);
        if (show(got) !== show(one) || pair.layout.some((r, k) => Buffer.compare(pair.vtd.memory.read(r.base, r.size), afterOne[k]!) !== 0)) {
          throw new Error(`batch differs for seed ${seed} preset ${preset}: ${show(got)} vs ${show(one)}`);
        }
        pair.syncFromWasm();
      }),
      { numRuns: 10_000 },
    );
  });

  it('on the bare first-stage walk over random bytes (5,000 memories x 20 walks)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(CAP_PRESETS.length - 1), (seed, preset) => {
        const pair = pairs[preset * 2]!;
        const rng = new Rng(seed);
        pair.load((_i, bytes) => {
          const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          for (let off = 0; off < bytes.length; off += 8) hostileQword(rng, dv, off);
        });
        for (let i = 0; i < 20; i++) {
          const req = {
            root: rng.chance(0.05) ? rng.pick(OUTSIDE) : rng.pick(HOSTILE_PAGES),
            levels: pair.env.caps.fs5lp && rng.chance(0.3) ? (5 as const) : (4 as const),
            iova: hostileIova(rng),
            write: rng.chance(0.4), exec: rng.chance(0.2), priv: rng.chance(0.4),
            sre: rng.chance(0.8), wpe: rng.chance(0.5), ere: rng.chance(0.7), eafe: rng.chance(0.3),
          };
          expectAgreement(pair, () => pair.firstStageWalk(req), () => `seed ${seed} preset ${preset} walk ${show(req)}`);
        }
      }),
      { numRuns: 5_000 },
    );
  });
});

// ---- random valid tables built with the guest encoders, then optionally corrupted ----

const VALID_LAYOUT = [{ base: 0n, size: 4 << 20 }, { base: HI, size: 1 << 20 }];
// The batch bounds its table reads by a mask when region 0 starts at 0 with a power-of-two size,
// and by a compare otherwise: every other preset runs on a region 0 of 3 MiB.
const VALID_LAYOUT_ODD = [{ base: 0n, size: 3 << 20 }, { base: HI, size: 1 << 20 }];
const SIZES = [4096, 2 << 20, 1 << 30];

interface Mapping {
  pasid: number | undefined;
  sid: number;
  iova: bigint;
  size: number;
  /** GPAs of the entries a walk for this mapping reads (page-table levels), for aimed corruption. */
  path: bigint[];
}

/** Entry addresses along the walk of `iova` in a table (levels that exist). */
function levelsOf(t: { levels: number; entryAddress(iova: bigint, level: number): bigint }, iova: bigint): bigint[] {
  const out: bigint[] = [];
  for (let l = t.levels; l >= 1; l--) {
    try {
      out.push(t.entryAddress(iova, l));
    } catch {
      break; // below a large leaf
    }
  }
  return out;
}

/** Builds a random but well-formed configuration; returns the mapped IOVAs to aim requests at. */
function buildValid(pair: Pair, rng: Rng): { mappings: Mapping[]; devices: { sid: number; pasids: number[] }[]; scalable: boolean } {
  const caps = pair.env.caps;
  const mem = pair.vtd.memory;
  const [low, high] = pair.layout as [RegionLayout, RegionLayout];
  mem.fill(0n, low.size);
  mem.fill(HI, high.size);
  const guest = new GuestBuilder(mem, [{ base: 0x1000n, size: BigInt(low.size) - 0x1000n }, { base: HI, size: BigInt(high.size) }]);
  const mappings: Mapping[] = [];
  const devices: { sid: number; pasids: number[] }[] = [];
  const scalable = caps.smts && rng.chance(0.85);
  const awChoices = [1, 2, 3].filter((aw) => (caps.sagaw >> aw) & 1) as (1 | 2 | 3)[];
  const fsSize = () => rng.pick(SIZES.filter((s) => s !== 1 << 30 || caps.fs1gp));
  const ssSize = () => rng.pick(SIZES.filter((s) => s === 4096 || (s === 2 << 20 ? caps.sslps & 1 : caps.sslps & 2)));
  const randomTarget = (size: number) => BigInt(rng.int(1 << 20)) * BigInt(size) & ((1n << BigInt(Math.min(caps.haw, 46))) - 1n) & ~BigInt(size - 1);
  // A second stage mapping all of RAM 1:1 (what a nest parent does), plus random extra leaves.
  const ssIdentity = (aw: 1 | 2 | 3) => {
    const ss = guest.secondStage({ aw });
    const w = rng.chance(0.9);
    for (let g = 0n; g < 4n << 20n; g += 2n << 20n) ss.map(g, g, { size: caps.sslps & 1 ? 2 << 20 : 4096, write: w, exec: rng.chance(0.5) });
    if (!(caps.sslps & 1)) for (let g = 4096n; g < 4n << 20n; g += 4096n) ss.map(g, g, { write: w, exec: true });
    ss.map(HI, HI, { size: 4096, write: true });
    return ss;
  };
  const nDev = 1 + rng.int(3);
  for (let d = 0; d < nDev; d++) {
    const sid = ((rng.chance(0.7) ? 0 : rng.int(256)) << 8) | rng.int(256);
    if (devices.some((x) => x.sid === sid)) continue;
    if (!scalable) {
      if (!awChoices.length) break;
      const aw = rng.pick(awChoices);
      const ss = guest.secondStage({ aw });
      const tt = caps.pt && rng.chance(0.15) ? 2 : 0;
      guest.legacyDevice(sid, { present: true, tt, aw, did: 1 + d, ssptptr: ss.root });
      for (let m = 0; m < 4; m++) {
        const size = ssSize();
        const iova = randomTarget(size) & ((1n << BigInt(Math.min(30 + 9 * aw, caps.mgaw))) - 1n);
        try {
          ss.map(iova, randomTarget(size), { size, read: rng.chance(0.9), write: rng.chance(0.7) });
          mappings.push({ sid, pasid: undefined, iova, size, path: levelsOf(ss, iova) });
        } catch { /* overlapping random mapping: skip */ }
      }
      devices.push({ sid, pasids: [] });
      continue;
    }
    const dev = guest.scalableDevice(sid, { pdts: rng.int(3), paside: rng.chance(0.9) });
    const pasids = [0, ...Array.from({ length: rng.int(4) }, () => rng.int(2 ** (dev.pdts + 7) * 64))];
    for (const pasid of new Set(pasids)) {
      const kinds = (['first-stage', 'second-stage', 'nested', 'pass-through'] as const).filter((k) =>
        k === 'first-stage' ? caps.fsts : k === 'second-stage' ? caps.ssts && awChoices.length : k === 'nested' ? caps.nest && awChoices.length : caps.pt);
      if (!kinds.length) break;
      if (rng.chance(0.1)) {
        // Not well-formed: any PGTT, AW and FSPM, maybe not present (its tables: an empty page).
        const empty = guest.alloc.alloc();
        guest.pasidEntry(sid, pasid, { pgtt: rng.int(8), aw: rng.int(8), fspm: rng.int(4), present: rng.chance(0.7), fsptptr: empty, ssptptr: empty });
        continue;
      }
      const kind = rng.pick(kinds);
      const levels = caps.fs5lp && rng.chance(0.3) ? 5 : 4;
      const flags = { sre: rng.chance(0.7), ere: rng.chance(0.5), wpe: rng.chance(0.5), eafe: rng.chance(0.3), did: rng.int(1 << 16) };
      const pasidKey = pasid === 0 && !caps.rps ? undefined : pasid;
      if (kind === 'pass-through') {
        guest.pasidEntry(sid, pasid, { pgtt: kind, ...flags });
        mappings.push({ sid, pasid: pasidKey, iova: BigInt(rng.u32()) << 12n, size: 4096, path: [] });
        continue;
      }
      if (kind === 'second-stage') {
        const aw = rng.pick(awChoices);
        const ss = guest.secondStage({ aw });
        guest.pasidEntry(sid, pasid, { pgtt: kind, aw, ssptptr: ss.root, ...flags });
        for (let m = 0; m < 4; m++) {
          const size = ssSize();
          const iova = randomTarget(size) & ((1n << BigInt(Math.min(30 + 9 * aw, caps.mgaw))) - 1n);
          try {
            ss.map(iova, randomTarget(size), { size, read: rng.chance(0.9), write: rng.chance(0.7), exec: rng.chance(0.5) });
            mappings.push({ sid, pasid: pasidKey, iova, size, path: levelsOf(ss, iova) });
          } catch { /* overlap */ }
        }
        continue;
      }
      const fs = guest.firstStage({ levels });
      const aw = kind === 'nested' ? rng.pick(awChoices) : undefined;
      const ss = aw ? ssIdentity(aw) : undefined;
      guest.pasidEntry(sid, pasid, { pgtt: kind, levels, fsptptr: fs.root, ...(ss ? { aw, ssptptr: ss.root } : {}), ...flags });
      for (let m = 0; m < 5; m++) {
        const size = fsSize();
        let iova = (BigInt(rng.u32()) << 21n | BigInt(rng.int(512)) << 12n) & ((1n << BigInt(levels === 5 ? 56 : 47)) - 1n) & ~BigInt(size - 1);
        if (rng.chance(0.2)) iova = BigInt.asUintN(64, iova | (~0n << BigInt(levels === 5 ? 56 : 47))); // upper half
        const target = ss && rng.chance(0.7) ? BigInt(rng.int(4 << 20)) & ~BigInt(size - 1) & ((4n << 20n) - 1n) : randomTarget(size);
        try {
          fs.map(iova, target, {
            size, write: rng.chance(0.7), user: rng.chance(0.8), xd: rng.chance(0.3),
            accessed: rng.chance(0.3), dirty: rng.chance(0.2),
          });
          mappings.push({ sid, pasid: pasidKey, iova, size, path: [...levelsOf(fs, iova), ...(ss ? levelsOf(ss, target) : [])] });
        } catch { /* overlap */ }
      }
    }
    devices.push({ sid, pasids: [...new Set(pasids)] });
  }
  pair.syncFromWasm();
  pair.setRoot(guest.root(), scalable);
  // The tables are allocated from 0x1000 upwards (first fit, nothing freed).
  snapBytes = 0x1000 + guest.alloc.used * 4096;
  return { mappings, devices, scalable };
}

function validRequest(rng: Rng, built: ReturnType<typeof buildValid>): TranslateRequest {
  const flags = { write: rng.chance(0.4), exec: rng.chance(0.15), priv: rng.chance(0.3) };
  if (built.mappings.length && rng.chance(0.8)) {
    const m = rng.pick(built.mappings);
    const iova = m.iova + BigInt(rng.int(m.size)) ;
    return { sid: m.sid, ...(m.pasid === undefined ? {} : { pasid: m.pasid }), iova, ...flags };
  }
  const dev = built.devices.length ? rng.pick(built.devices) : { sid: rng.int(1 << 16), pasids: [] };
  const k = rng.int(10);
  const pasid = k < 5 && dev.pasids.length ? rng.pick(dev.pasids) : k < 7 ? rng.int(1 << 10) : k < 8 ? rng.int(1 << 20) : undefined;
  return { sid: dev.sid, ...(pasid === undefined ? {} : { pasid }), iova: hostileIova(rng), ...flags };
}

/** Translate `reqs` in one batch; each answer shaped like vtd.translate's (without page size and permissions). */
function batchAnswers(pair: Pair, reqs: TranslateRequest[]): string[] {
  const b = batchFor(pair, reqs.length);
  reqs.forEach((r, i) => {
    b.sid[i] = r.sid;
    b.pasid[i] = r.pasid ?? NO_PASID;
    b.iova[i] = r.iova;
    b.flags[i] = (r.write ? 1 : 0) | (r.exec ? 2 : 0) | (r.priv ? 4 : 0);
  });
  const faults = pair.vtd.translateBatch(b, reqs.length);
  // The fault index lists exactly the faulted requests, in order.
  const faulted = reqs.map((_, i) => i).filter((i) => b.fault[i] !== 0);
  if (faults !== faulted.length || faulted.some((i, k) => b.faultIndex[k] !== i)) {
    throw new Error(`fault index ${JSON.stringify([...b.faultIndex.subarray(0, faults)])} != faulted ${JSON.stringify(faulted)}`);
  }
  return reqs.map((_, i) => (b.fault[i] ? `fault 0x${b.fault[i]!.toString(16)}` : `ok 0x${b.address[i]!.toString(16)}`));
}
/** The low MiB of each RAM region, where the encoders allocate the tables. */
/** Where A/D bits can land: the tables of the configuration last built (from GPA 0). */
let snapBytes = 0;
function snapshot(pair: Pair): Uint8Array[] {
  return [pair.vtd.memory.read(0n, snapBytes)];
}
function restore(pair: Pair, snap: Uint8Array[]): void {
  pair.vtd.memory.write(0n, snap[0]!);
}
const batches = new Map<Pair, TranslationBatch>();
function batchFor(pair: Pair, n: number): TranslationBatch {
  let b = batches.get(pair);
  if (!b) batches.set(pair, (b = pair.vtd.createBatch(64)));
  if (n > b.capacity) throw new Error('batch too small');
  return b;
}
const short = (r: TranslateResult) => (r.ok ? `ok 0x${r.address.toString(16)}` : `fault 0x${r.fault.reason.toString(16)}`);

describe('WASM walker == reference walker on well-formed tables', () => {
  const validPairs: Pair[] = [];
  beforeAll(async () => {
    // Each preset twice: every cache at its default, and the IOTLB off (the batch's walk-only loops).
    for (const [k, caps] of CAP_PRESETS.entries()) {
      const layout = k % 2 ? VALID_LAYOUT_ODD : VALID_LAYOUT;
      validPairs.push(await Pair.create(layout, caps), await Pair.create(layout, caps, { iotlb: 0 }));
    }
  });

  it('as built, and with 1-4 random bits flipped in the tables (3,000 configurations x 35 requests)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(CAP_PRESETS.length - 1), fc.nat(4), (seed, preset, flips) => {
        const pair = validPairs[preset * 2 + (seed & 1)]!;
        const rng = new Rng(seed);
        const built = buildValid(pair, rng);
        // Corrupt live entries mostly: a random bit of a random non-zero qword of the tables
        // (they are allocated from 0x1000 upwards), sometimes of any qword there.
        const tables = pair.vtd.memory.view(0x1000n, 256 * 1024);
        const q = new BigUint64Array(tables.buffer, tables.byteOffset, tables.length / 8);
        const live: number[] = [];
        for (let i = 0; i < q.length; i++) if (q[i]) live.push(i);
        for (let f = 0; f < flips; f++) {
          const i = live.length && rng.chance(0.85) ? rng.pick(live) : rng.int(q.length);
          q[i]! ^= 1n << BigInt(rng.int(64));
        }
        pair.syncFromWasm();
        const where = () => `seed ${seed} preset ${preset} flips ${flips}`;
        const before = snapshot(pair);
        const asked: TranslateRequest[] = [];
        const answers: string[] = [];
        for (let i = 0; i < 20; i++) {
          const req = validRequest(rng, built);
          const walked = expectAgreement(pair, () => pair.translate(req), () => `${where()} request ${show(req)}`);
          asked.push(req);
          answers.push(short(walked));
          if (flips === 0) {
            // Well-formed tables: the same request again, now from the IOTLB where it was cached,
            // gives the same answer (after the walk's own A/D writes, which change no structure).
            const again = pair.vtd.translate(req);
            if (show(walked) !== show(again)) throw new Error(`IOTLB answer differs for ${where()} ${show(req)}: ${show(walked)} then ${show(again)}`);
          }
        }
        {
          // The same requests as one batch equal the same requests one by one on a cached unit,
          // from the same memory: same answers, same A/D bits (the batch's fast path must defer
          // to the full walk whenever that would write or fault).
          restore(pair, before);
          pair.vtd.caches.flush();
          const one = asked.map((r) => short(pair.vtd.translate(r)));
          const afterOne = snapshot(pair);
          restore(pair, before);
          pair.vtd.caches.flush();
          const got = batchAnswers(pair, asked);
          for (let i = 0; i < asked.length; i++) {
            if (got[i] !== one[i]) throw new Error(`batch differs for ${where()} ${show(asked[i])}: ${got[i]} vs ${one[i]}`);
          }
          snapshot(pair).forEach((b, i) => {
            if (Buffer.compare(b, afterOne[i]!) !== 0) throw new Error(`batch left different A/D bits for ${where()}`);
          });
          if (flips === 0) one.forEach((a, i) => expect(a).toBe(answers[i])); // well-formed: caching changes nothing
        }
        // Aimed corruption: flip a bit of an entry on a mapping's walk, then use that mapping.
        const aimed = built.mappings.filter((m) => m.path.length);
        for (let round = 0; round < 5 && aimed.length; round++) {
          const m = rng.pick(aimed);
          const gpa = rng.pick(m.path);
          pair.vtd.memory.writeU64(gpa, pair.vtd.memory.readU64(gpa) ^ (1n << BigInt(rng.int(64))));
          pair.syncFromWasm();
          const start = snapshot(pair);
          const reqs: TranslateRequest[] = [];
          for (let i = 0; i < 3; i++) {
            const req = { sid: m.sid, ...(m.pasid === undefined ? {} : { pasid: m.pasid }), iova: m.iova + BigInt(rng.int(m.size)),
              write: rng.chance(0.5), exec: rng.chance(0.2), priv: rng.chance(0.3) };
            reqs.push(req);
            expectAgreement(pair, () => pair.translate(req), () => `${where()} aimed at 0x${gpa.toString(16)} request ${show(req)}`);
          }
          // ... and the batch (twice: the second time its fast path sees the A/D bits set) agrees
          // with the same requests one by one on a cached unit.
          for (const pass of [0, 1]) {
            restore(pair, start);
            pair.vtd.caches.flush();
            const twice = [...reqs, ...reqs];
            const one = twice.map((r) => short(pair.vtd.translate(r)));
            const afterOne = snapshot(pair);
            restore(pair, start);
            pair.vtd.caches.flush();
            const got = batchAnswers(pair, twice);
            if (show(got) !== show(one) || snapshot(pair).some((b, i) => Buffer.compare(b, afterOne[i]!) !== 0)) {
              throw new Error(`batch differs (pass ${pass}) for ${where()} aimed at 0x${gpa.toString(16)}: ${show(got)} vs ${show(one)}`);
            }
          }
          pair.syncFromWasm();
        }
      }),
      { numRuns: 3_000 },
    );
    // The repeated requests really were answered from the IOTLB.
    expect(validPairs.reduce((n, p) => n + p.vtd.caches.stats().iotlbHits, 0)).toBeGreaterThan(2_000);
  });
});
