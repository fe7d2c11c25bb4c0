/**
 * Synthetic scenarios: tables built with the project's guest-side encoders (GuestBuilder,
 * FirstStageTable, SecondStageTable) in one Vtd's guest RAM, and deterministic request
 * streams over them. One table set serves both access patterns (rand, seq).
 */
import { NO_PASID } from '../src/batch.js';
import { GuestBuilder, PAGE_1G, PAGE_2M, PAGE_4K, type FirstStageTable, type SecondStageTable } from '../src/guest/index.js';
import type { Vtd } from '../src/vtd.js';
import { hashName, Rng } from './rng.js';

/** rand / seq over the mapped pages; seq10 (native images only): ten requests per page in a row, streaming. */
export type Pattern = 'rand' | 'seq' | 'seq10';
export type Kind = 'first-stage' | 'second-stage' | 'pass-through' | 'nested' | 'native-image';

/** Requests as struct-of-arrays, the layout of a TranslationBatch's inputs. */
export interface RequestSet {
  n: number;
  sid: Uint16Array;
  pasid: Uint32Array;
  iova: BigUint64Array;
  flags: Uint8Array;
}

export function newRequestSet(n: number): RequestSet {
  return { n, sid: new Uint16Array(n), pasid: new Uint32Array(n), iova: new BigUint64Array(n), flags: new Uint8Array(n) };
}

export interface TableSpec {
  key: string;
  kind: Exclude<Kind, 'native-image'>;
  /** First-stage levels (second-stage levels for kind second-stage; 0 for pass-through). */
  levels: number;
  pageSize: number;
  patterns: Pattern[];
  /** Nested: the second stage under the first stage. */
  secondStage?: { levels: number; pageSize: number };
}

/** Table sizes per run mode. */
export interface SizeConfig {
  pages: Record<number, number>; // page size -> mapped pages per table
  density: number; // span = density * pages * pageSize
  ramBytes: number;
  /** Nested: the second stage identity-maps [0, window) with 2 MiB pages; FS outputs lie below it. */
  nestedWindow: number;
}

export const SIZES: Record<'tiny' | 'quick' | 'full', SizeConfig> = {
  tiny: { pages: { [PAGE_4K]: 1024, [PAGE_2M]: 128, [PAGE_1G]: 16 }, density: 4, ramBytes: 16 << 20, nestedWindow: 2 ** 30 },
  quick: { pages: { [PAGE_4K]: 65536, [PAGE_2M]: 16384, [PAGE_1G]: 1024 }, density: 4, ramBytes: 64 << 20, nestedWindow: 2 ** 32 },
  full: { pages: { [PAGE_4K]: 262144, [PAGE_2M]: 65536, [PAGE_1G]: 4096 }, density: 16, ramBytes: 512 << 20, nestedWindow: 2 ** 32 },
};

const BOTH: Pattern[] = ['rand', 'seq'];

export const TABLE_SPECS: TableSpec[] = [
  { key: 'fs4-4k', kind: 'first-stage', levels: 4, pageSize: PAGE_4K, patterns: BOTH },
  { key: 'fs4-2m', kind: 'first-stage', levels: 4, pageSize: PAGE_2M, patterns: BOTH },
  { key: 'fs4-1g', kind: 'first-stage', levels: 4, pageSize: PAGE_1G, patterns: BOTH },
  { key: 'fs5-4k', kind: 'first-stage', levels: 5, pageSize: PAGE_4K, patterns: BOTH },
  { key: 'fs5-2m', kind: 'first-stage', levels: 5, pageSize: PAGE_2M, patterns: BOTH },
  { key: 'fs5-1g', kind: 'first-stage', levels: 5, pageSize: PAGE_1G, patterns: BOTH },
  { key: 'ss4-4k', kind: 'second-stage', levels: 4, pageSize: PAGE_4K, patterns: BOTH },
  { key: 'ss4-2m', kind: 'second-stage', levels: 4, pageSize: PAGE_2M, patterns: BOTH },
  { key: 'pt', kind: 'pass-through', levels: 0, pageSize: PAGE_4K, patterns: BOTH },
  {
    key: 'nested-fs4-4k-ss2m', kind: 'nested', levels: 4, pageSize: PAGE_4K, patterns: BOTH,
    secondStage: { levels: 4, pageSize: PAGE_2M },
  },
];

export const SYNTHETIC_SID = (0 << 8) | (3 << 3); // 00:03.0
const OUT_LIMIT = 2 ** 40; // output GPAs below 1 TiB, as native_walk
const INTR_LO = 0xfee0_0000;
const INTR_HI = 0xfeef_ffff;
const RO_FRACTION = 0.05; // read-only leaves (native_walk: 5%)
export const WRITE_FRACTION = 0.25; // writes (native_walk: 25%)
export const UNMAPPED_FRACTION = 0.01; // requests to unmapped IOVAs (native_walk: 1%)
const BAD_PASID_FRACTION = 0.002; // random PASIDs (native_walk: 0.2%)

/** The IOVA space a table maps: which pages of the span are mapped, read-only or not. */
export interface PageSpace {
  base: bigint;
  pageShift: number;
  spanPages: number;
  /** Mapped page indexes in insertion (random) order, and sorted (for seq). */
  pages: Uint32Array;
  sorted: Uint32Array;
  /** Per span page: 0 unmapped, 1 RW, 2 RO. */
  map: Uint8Array;
  dense: boolean;
}

export interface BuiltTable {
  spec: TableSpec;
  pasid: number;
  space?: PageSpace;
  /** Guest pages the table structures took (first and second stage). */
  tablePages: number;
}

export interface SyntheticGuest {
  vtd: Vtd;
  guest: GuestBuilder;
  sid: number;
  nextPasid: number;
}

export function createSyntheticGuest(vtd: Vtd, ramBytes: number): SyntheticGuest {
  // Tables are allocated above 1 MiB; the first MiB stays free.
  const guest = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: BigInt(ramBytes) - 0x10_0000n }]);
  guest.scalableDevice(SYNTHETIC_SID, { pdts: 7 });
  vtd.setRootTable(guest.root());
  return { vtd, guest, sid: SYNTHETIC_SID, nextPasid: 1 };
}

const log2 = (v: number): number => Math.round(Math.log2(v));

/** A random `size`-aligned output address below `limit` outside the interrupt range. */
export function outputAddress(rng: Rng, size: number, limit: number): bigint {
  const frames = Math.floor(limit / size);
  for (;;) {
    const a = rng.below(frames) * size;
    if (a + size - 1 < INTR_LO || a > INTR_HI) return BigInt(a);
  }
}

/** Chooses the span (aligned slot in the lower canonical half / input range) and its mapped pages. */
export function makeSpace(rng: Rng, pages: number, density: number, pageSize: number, inputBits: number): PageSpace {
  const pageShift = log2(pageSize);
  const spanPages = pages * density;
  const spanBytes = BigInt(spanPages) << BigInt(pageShift);
  let align = 1n;
  while (align < spanBytes) align <<= 1n;
  const slots = (1n << BigInt(inputBits)) / align;
  if (slots < 1n) throw new Error(`span of ${spanBytes} bytes does not fit ${inputBits} input bits`);
  const base = rng.belowBig(slots) * align;
  const map = new Uint8Array(spanPages);
  const list = new Uint32Array(pages);
  if (density === 1) {
    for (let i = 0; i < pages; i++) list[i] = i;
    for (let i = pages - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      const t = list[i]!;
      list[i] = list[j]!;
      list[j] = t;
    }
  } else {
    for (let i = 0; i < pages; i++) {
      let p: number;
      do p = rng.below(spanPages); while (map[p]);
      map[p] = 1;
      list[i] = p;
    }
  }
  for (let i = 0; i < pages; i++) map[list[i]!] = rng.chance(RO_FRACTION) ? 2 : 1;
  const sorted = Uint32Array.from(list).sort();
  return { base, pageShift, spanPages, pages: list, sorted, map, dense: density === 1 };
}

/** Builds one table set and its PASID entry. */
export function buildTable(g: SyntheticGuest, spec: TableSpec, sizes: SizeConfig, seed: bigint): BuiltTable {
  const rng = new Rng(seed ^ hashName(`table:${spec.key}`));
  const pasid = g.nextPasid++;
  const used0 = g.guest.alloc.used;
  const did = pasid;
  const pages = sizes.pages[spec.pageSize] ?? 0;
  const size = spec.pageSize;

  if (spec.kind === 'pass-through') {
    g.guest.pasidEntry(g.sid, pasid, { pgtt: 'pass-through', did });
    return { spec, pasid, tablePages: g.guest.alloc.used - used0 };
  }

  if (spec.kind === 'second-stage') {
    const st: SecondStageTable = g.guest.secondStage({ levels: spec.levels as 3 | 4 | 5 });
    const space = makeSpace(rng, pages, sizes.density, size, 12 + 9 * spec.levels);
    for (const p of space.pages) {
      const iova = space.base + (BigInt(p) << BigInt(space.pageShift));
      st.map(iova, outputAddress(rng, size, OUT_LIMIT), { size, write: space.map[p] === 1 });
    }
    g.guest.pasidEntry(g.sid, pasid, { pgtt: 'second-stage', aw: st.aw, ssptptr: st.root, did });
    return { spec, pasid, space, tablePages: g.guest.alloc.used - used0 };
  }

  // first-stage or nested: the IOVA span sits in the lower canonical half (47 or 56 bits).
  const ft: FirstStageTable = g.guest.firstStage({ levels: spec.levels as 4 | 5 });
  const space = makeSpace(rng, pages, sizes.density, size, spec.levels === 4 ? 47 : 56);
  const outLimit = spec.kind === 'nested' ? sizes.nestedWindow : OUT_LIMIT;
  for (const p of space.pages) {
    const iova = space.base + (BigInt(p) << BigInt(space.pageShift));
    ft.map(iova, outputAddress(rng, size, outLimit), { size, write: space.map[p] === 1 });
  }
  if (spec.kind === 'first-stage') {
    g.guest.pasidEntry(g.sid, pasid, { pgtt: 'first-stage', did, fsptptr: ft.root, levels: spec.levels as 4 | 5 });
    return { spec, pasid, space, tablePages: g.guest.alloc.used - used0 };
  }

  // Nested: the second stage identity-maps the guest-physical window (RAM with the first-stage
  // tables, and every first-stage output) with 2 MiB pages, read/write/execute, as a VMM would.
  const ss2 = spec.secondStage!;
  const sst = g.guest.secondStage({ levels: ss2.levels as 3 | 4 | 5 });
  const window = BigInt(sizes.nestedWindow);
  const step = BigInt(ss2.pageSize);
  for (let a = 0n; a < window; a += step) sst.map(a, a, { size: ss2.pageSize, write: true, exec: true });
  g.guest.pasidEntry(g.sid, pasid, {
    pgtt: 'nested', aw: sst.aw, ssptptr: sst.root, fsptptr: ft.root, levels: spec.levels as 4 | 5, did,
  });
  return { spec, pasid, space, tablePages: g.guest.alloc.used - used0 };
}

/** Writes base + offset (base given as u32 halves, offset < 2^53) as u64 i of a u32 view, without BigInt. */
export function put64(v32: Uint32Array, i: number, baseLo: number, baseHi: number, offset: number): void {
  const lo = baseLo + (offset % 4294967296);
  const hi = baseHi + Math.floor(offset / 4294967296) + (lo >= 4294967296 ? 1 : 0);
  v32[2 * i] = lo >>> 0;
  v32[2 * i + 1] = hi >>> 0;
}

/** The request stream of one scenario (deterministic in seed, table and pattern). */
export function generateRequests(g: SyntheticGuest, t: BuiltTable, pattern: Pattern, n: number, seed: bigint): RequestSet {
  const rng = new Rng(seed ^ hashName(`requests:${t.spec.key}:${pattern}`));
  const rs = newRequestSet(n);
  const v32 = new Uint32Array(rs.iova.buffer);
  rs.sid.fill(g.sid);
  for (let i = 0; i < n; i++) {
    rs.pasid[i] = t.pasid;
    if (rng.chance(WRITE_FRACTION)) rs.flags[i] = 1;
  }

  if (t.spec.kind === 'pass-through') {
    // rand: anywhere below 2^HAW (48), 1% above it (a fault); seq: consecutive 4 KiB pages.
    const start = rng.below(2 ** 47);
    for (let i = 0; i < n; i++) {
      let a: number;
      if (pattern === 'rand') {
        a = rng.below(2 ** 48);
        if (rng.chance(UNMAPPED_FRACTION)) a += 2 ** 48;
      } else {
        a = start + i * 4096 + rng.below(4096);
      }
      put64(v32, i, 0, 0, a - (a % 8));
    }
    if (pattern === 'rand') badPasids(rs, rng);
    return rs;
  }

  const s = t.space!;
  const psz = 2 ** s.pageShift;
  const baseLo = Number(s.base & 0xffff_ffffn);
  const baseHi = Number(s.base >> 32n);
  let cursor = 0;
  for (let i = 0; i < n; i++) {
    let p: number;
    if (pattern === 'seq') {
      p = s.sorted[cursor]!;
      cursor = cursor + 1 === s.sorted.length ? 0 : cursor + 1;
    } else {
      p = s.pages[rng.below(s.pages.length)]!;
      if (rng.chance(UNMAPPED_FRACTION)) {
        if (s.dense) p = s.spanPages + rng.below(s.spanPages);
        else do p = rng.below(s.spanPages); while (s.map[p]);
      }
    }
    const off = rng.below(psz) & ~7;
    put64(v32, i, baseLo, baseHi, p * psz + off);
  }
  if (pattern === 'rand') badPasids(rs, rng);
  return rs;
}

export function badPasids(rs: RequestSet, rng: Rng): void {
  for (let i = 0; i < rs.n; i++) if (rng.chance(BAD_PASID_FRACTION)) rs.pasid[i] = rng.below(1 << 20);
}

/** Request i as the object the single-call and reference paths take. */
export function requestObject(rs: RequestSet, i: number) {
  const pasid = rs.pasid[i]!;
  const f = rs.flags[i]!;
  return {
    sid: rs.sid[i]!,
    ...(pasid === NO_PASID ? {} : { pasid }),
    iova: rs.iova[i]!,
    write: (f & 1) !== 0,
    exec: (f & 2) !== 0,
    priv: (f & 4) !== 0,
  };
}
