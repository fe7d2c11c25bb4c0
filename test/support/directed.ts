/**
 * Shared fixtures of the directed tests (faults-*, walks, permissions, conformance): a unit
 * with two RAM regions (one below and one above 4 GiB), a guest driver that writes its tables
 * into one of them, and "a correct configuration" per translation type that a test then
 * breaks in exactly one place. Expectations are written out in the tests (docs/semantics.md),
 * never computed by a walker.
 */
import { expect } from 'vitest';
import {
  FaultReason, GuestBuilder, pasidDirEntryAddress, rootEntryAddress, Vtd,
  type Caps, type FaultName, type LegacyContextFields, type FirstStageTable, type FsMapOptions, type FsNonLeafBits, type PasidEntryFields,
  type ScalableDevice, type ScalableDeviceOptions, type SecondStageTable, type SsMapOptions, type SsNonLeafBits,
  type TranslateRequest, type TranslateResult,
} from '../../src/index.js';

export const KIB4 = 4096;
export const MIB2 = 2 ** 21;
export const GIB1 = 2 ** 30;

export const bit = (n: number): bigint => 1n << BigInt(n);
/** Bits hi..lo set. */
export const bitsHL = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/** Guest RAM: 16 MiB at 0 and 16 MiB at 4 GiB; the 4 GiB - 16 MiB in between is not RAM. */
export const LOW = { base: 0n, size: 16n << 20n } as const;
export const HIGH = { base: 4n << 30n, size: 16n << 20n } as const;
/** A 4 KiB-aligned guest-physical address in no RAM region (2 GiB: in the hole). */
export const HOLE = 0x8000_0000n;
/** The first page above the high region (also not RAM). */
export const ABOVE_HIGH = HIGH.base + HIGH.size;

/** Where the guest driver allocates its tables. */
export type Placement = 'low' | 'high';
export const PLACEMENTS: readonly Placement[] = ['low', 'high'];

export interface Unit {
  vtd: Vtd;
  guest: GuestBuilder;
}

export async function makeUnit(opts: { caps?: Partial<Caps>; tables?: Placement } = {}): Promise<Unit> {
  const vtd = await Vtd.create({ memory: { regions: [LOW, HIGH] }, caps: opts.caps ?? {} });
  const range = opts.tables === 'high'
    ? { base: HIGH.base, size: HIGH.size }
    : { base: 0x10_0000n, size: LOW.size - 0x10_0000n };
  return { vtd, guest: new GuestBuilder(vtd.memory, [range]) };
}

/** The exact fault result `{ ok: false, fault: { reason, name, level? } }` (level absent unless given). */
export function fault(name: FaultName, level?: number): TranslateResult {
  const reason = FaultReason[name];
  return { ok: false, fault: level === undefined ? { reason, name } : { reason, name, level } };
}

/** Asserts a result is exactly the fault (toStrictEqual: an unexpected `level` key fails). */
export function expectFault(r: TranslateResult, name: FaultName, level?: number): void {
  expect(r).toStrictEqual(fault(name, level));
}

/** The exact success result; `perms` is a subset of 'rwx'. */
export function success(address: bigint, pageSize: number, perms: string): TranslateResult {
  return { ok: true, address, pageSize, read: perms.includes('r'), write: perms.includes('w'), exec: perms.includes('x') };
}

/**
 * What a guest driver does after editing tables it may already have used: invalidate. The
 * directed tests are about the walk (docs/semantics.md), so they drop everything the unit may
 * cache (context cache, PASID cache, IOTLB), through `vtd.caches.flush()` where the unit has
 * caches; a unit without caches needs nothing.
 */
export function invalidateAll(vtd: Vtd): void {
  (vtd as unknown as { caches?: { flush?: () => void } }).caches?.flush?.();
}

export function expectOk(r: TranslateResult): void {
  expect(r).toMatchObject({ ok: true });
}

// ----------------------------------------------------------------------------------------
// Scalable-mode fixtures: root -> context -> PASID directory -> PASID entry -> tables.

/** 03:03.0: covered by the lower root-entry half. */
export const SID = (3 << 8) | (3 << 3);
/** 03:11.0 (devfn 0x88): covered by the upper root-entry half. */
export const SID_UPPER = (3 << 8) | 0x88;
/** Directory entry 4, slot 35 of its PASID table. */
export const PASID = 0x123;
/** Offset of the request inside its page (fits in a 4 KiB page). */
export const OFF = 0x123n;

/** Default input and output pages (aligned to their size) per page size. */
export const FS_IOVA4: Record<number, bigint> = {
  [KIB4]: 0x7f12_3456_7000n,
  [MIB2]: 0x7f12_3440_0000n,
  [GIB1]: 0x7f12_4000_0000n,
};
export const FS_IOVA5: Record<number, bigint> = {
  [KIB4]: 0x00ab_cd12_3456_7000n,
  [MIB2]: 0x00ab_cd12_3440_0000n,
  [GIB1]: 0x00ab_cd12_4000_0000n,
};
export const SS_IOVA: Record<number, bigint> = {
  [KIB4]: 0x12_3456_7000n,
  [MIB2]: 0x12_3440_0000n,
  [GIB1]: 0x12_4000_0000n,
};
export const OUT: Record<number, bigint> = {
  [KIB4]: 0x1_2345_6000n,
  [MIB2]: 0x1_2360_0000n,
  [GIB1]: 0x3_4000_0000n,
};

export interface ScalableFixture extends Unit {
  sid: number;
  /** The PASID of the entry; requests carry it unless `withPasid` is false (then PASID 0). */
  pasid: number;
  withPasid: boolean;
  dev: ScalableDevice;
  /** GPA of the root-entry half (qword) covering `sid`. */
  rootHalf: bigint;
  /** GPA of the PASID directory entry covering `pasid`. */
  dirEntry: bigint;
  /** GPA of the PASID table entry. */
  pasidEntry: bigint;
  /** The page-aligned input address the tables map; requests use iova + OFF. */
  iova: bigint;
  /** Where iova's page goes (for nested: the final host-physical page). */
  out: bigint;
  req: TranslateRequest;
  /** Translate the fixture's request, with overrides. */
  tr(over?: Partial<TranslateRequest>): TranslateResult;
  read(gpa: bigint): bigint;
  write(gpa: bigint, v: bigint): void;
  set(gpa: bigint, bits: bigint): void;
  clear(gpa: bigint, bits: bigint): void;
  /** After an edit made without write/set/clear (those invalidate themselves). */
  invalidate(): void;
  /** Rewrite the PASID entry (same PASID) with these fields. */
  rewriteEntry(fields: PasidEntryFields): void;
}

export interface ScalableOptions {
  caps?: Partial<Caps>;
  tables?: Placement;
  sid?: number;
  /** Default PASID (0x123); with withPasid false the entry is PASID 0's. */
  pasid?: number;
  withPasid?: boolean;
  device?: ScalableDeviceOptions;
  /** Fields merged over the fixture's PASID entry. */
  entry?: Partial<PasidEntryFields>;
}

function scalable(
  u: Unit, o: ScalableOptions, entry: PasidEntryFields, iova: bigint, out: bigint,
): ScalableFixture {
  const { vtd, guest } = u;
  const sid = o.sid ?? SID;
  const withPasid = o.withPasid ?? true;
  const pasid = o.pasid ?? (withPasid ? PASID : 0);
  const dev = guest.scalableDevice(sid, o.device ?? {});
  const pasidEntry = guest.pasidEntry(sid, pasid, { ...entry, ...o.entry });
  vtd.setRootTable(guest.root());
  const mem = vtd.memory;
  const req: TranslateRequest = withPasid ? { sid, pasid, iova: iova + OFF } : { sid, iova: iova + OFF };
  return {
    ...u, sid, pasid, withPasid, dev, iova, out, req, pasidEntry,
    rootHalf: rootEntryAddress(guest.root(), sid >> 8) + ((sid & 0xff) >= 128 ? 8n : 0n),
    dirEntry: pasidDirEntryAddress(dev.pasidDir, pasid),
    tr: (over = {}) => vtd.translate({ ...req, ...over }),
    read: (gpa) => mem.readU64(gpa),
    write: (gpa, v) => (mem.writeU64(gpa, v), invalidateAll(vtd)),
    set: (gpa, b) => (mem.writeU64(gpa, mem.readU64(gpa) | b), invalidateAll(vtd)),
    clear: (gpa, b) => (mem.writeU64(gpa, mem.readU64(gpa) & ~b), invalidateAll(vtd)),
    invalidate: () => invalidateAll(vtd),
    rewriteEntry: (fields) => (guest.pasidEntry(sid, pasid, fields), invalidateAll(vtd)),
  };
}

export interface FsOptions extends ScalableOptions {
  levels?: 4 | 5;
  size?: number;
  iova?: bigint;
  out?: bigint;
  map?: FsMapOptions;
  nonLeaf?: FsNonLeafBits;
}

export interface FsFixture extends ScalableFixture {
  pt: FirstStageTable;
  /** GPA of the first-stage entry for iova at `level`. */
  entry(level: number): bigint;
}

/** PGTT first-stage: iova (+OFF) -> out, user RW leaf, SRE and ERE set. */
export async function fsFixture(o: FsOptions = {}): Promise<FsFixture> {
  const u = await makeUnit(o);
  const levels = o.levels ?? 4;
  const size = o.size ?? KIB4;
  const iova = o.iova ?? (levels === 5 ? FS_IOVA5 : FS_IOVA4)[size]!;
  const out = o.out ?? OUT[size]!;
  const pt = u.guest.firstStage({ levels, nonLeaf: o.nonLeaf ?? {} });
  pt.map(iova, out, { size, ...o.map });
  const f = scalable(u, o, { pgtt: 'first-stage', did: 1, fsptptr: pt.root, levels, sre: true, ere: true }, iova, out);
  return { ...f, pt, entry: (level) => pt.entryAddress(iova, level) };
}

export interface SsOptions extends ScalableOptions {
  aw?: 1 | 2 | 3;
  size?: number;
  iova?: bigint;
  out?: bigint;
  map?: SsMapOptions;
  nonLeaf?: SsNonLeafBits;
}

export interface SsFixture extends ScalableFixture {
  ss: SecondStageTable;
  entry(level: number): bigint;
}

/** PGTT second-stage: iova (+OFF) -> out, R/W leaf (X with map.exec). */
export async function ssFixture(o: SsOptions = {}): Promise<SsFixture> {
  const u = await makeUnit(o);
  const size = o.size ?? KIB4;
  const iova = o.iova ?? SS_IOVA[size]!;
  const out = o.out ?? OUT[size]!;
  const ss = u.guest.secondStage({ aw: o.aw ?? 2, nonLeaf: o.nonLeaf ?? {} });
  ss.map(iova, out, { size, ...o.map });
  const f = scalable(u, o, { pgtt: 'second-stage', did: 2, aw: ss.aw, ssptptr: ss.root }, iova, out);
  return { ...f, ss, entry: (level) => ss.entryAddress(iova, level) };
}

/** PGTT pass-through. */
export async function ptFixture(o: ScalableOptions & { iova?: bigint } = {}): Promise<ScalableFixture> {
  const u = await makeUnit(o);
  const iova = o.iova ?? 0x1234_5000n;
  return scalable(u, o, { pgtt: 'pass-through', did: 3 }, iova, iova);
}

export interface NestedOptions extends ScalableOptions {
  levels?: 4 | 5;
  aw?: 1 | 2 | 3;
  iova?: bigint;
  /** The first stage's output (a GPA). */
  gpa?: bigint;
  /** Where the second stage puts gpa's page. */
  out?: bigint;
  fsMap?: FsMapOptions;
  fsNonLeaf?: FsNonLeafBits;
  /** The second-stage leaf of the output page. */
  ssMap?: SsMapOptions;
}

export interface NestedFixture extends ScalableFixture {
  pt: FirstStageTable;
  ss: SecondStageTable;
  gpa: bigint;
  /** GPA of the first-stage table holding the level-`level` entry for iova (the FSPTPTR table at the top). */
  fsTable(level: number): bigint;
  fsEntry(level: number): bigint;
  /** Second-stage entry at `level` translating `gpa`. */
  ssEntry(gpa: bigint, level: number): bigint;
}

/**
 * PGTT nested (caps.nest): a first-stage table whose every table page is identity-mapped
 * (4 KiB, R/W) by the second stage, and whose output page gpa the second stage maps to out.
 */
export async function nestedFixture(o: NestedOptions = {}): Promise<NestedFixture> {
  const u = await makeUnit({ ...o, caps: { nest: true, ...o.caps } });
  const levels = o.levels ?? 4;
  const iova = o.iova ?? (levels === 5 ? FS_IOVA5 : FS_IOVA4)[KIB4]!;
  const gpa = o.gpa ?? 0x4020_1000n;
  const out = o.out ?? 0x2_0000_5000n;
  const pt = u.guest.firstStage({ levels, nonLeaf: o.fsNonLeaf ?? {} });
  pt.map(iova, gpa, o.fsMap ?? {});
  const ss = u.guest.secondStage({ aw: o.aw ?? 2 });
  const fsTable = (level: number): bigint => (level === levels ? pt.root : pt.entryAddress(iova, level) & ~0xfffn);
  const fsSize = o.fsMap?.size ?? KIB4;
  const fsLeaf = fsSize === KIB4 ? 1 : fsSize === MIB2 ? 2 : 3;
  for (let l = levels; l >= fsLeaf; l--) ss.map(fsTable(l), fsTable(l), { read: true, write: true });
  ss.map(gpa, out, { exec: true, ...o.ssMap });
  const f = scalable(u, { ...o, caps: { nest: true, ...o.caps } }, {
    pgtt: 'nested', did: 4, aw: ss.aw, ssptptr: ss.root, fsptptr: pt.root, levels, sre: true, ere: true,
  }, iova, out);
  return {
    ...f, pt, ss, gpa, fsTable,
    fsEntry: (level) => pt.entryAddress(iova, level),
    ssEntry: (g, level) => ss.entryAddress(g, level),
  };
}

// ----------------------------------------------------------------------------------------
// Legacy-mode fixture: root entry -> 128-bit context entry -> second-stage table.

export interface LegacyOptions {
  caps?: Partial<Caps>;
  tables?: Placement;
  sid?: number;
  tt?: LegacyContextFields['tt'];
  aw?: 1 | 2 | 3;
  size?: number;
  iova?: bigint;
  out?: bigint;
  map?: SsMapOptions;
  nonLeaf?: SsNonLeafBits;
  /** Fields merged over the context entry. */
  context?: Partial<LegacyContextFields>;
}

export interface LegacyFixture extends Unit {
  sid: number;
  ss: SecondStageTable;
  rootEntry: bigint;
  contextEntry: bigint;
  iova: bigint;
  out: bigint;
  req: TranslateRequest;
  tr(over?: Partial<TranslateRequest>): TranslateResult;
  entry(level: number): bigint;
  read(gpa: bigint): bigint;
  write(gpa: bigint, v: bigint): void;
  set(gpa: bigint, bits: bigint): void;
  clear(gpa: bigint, bits: bigint): void;
  invalidate(): void;
}

/** Legacy (TTM 00b) device: TT 00b by default, a second-stage table mapping iova (+OFF) -> out. */
export async function legacyFixture(o: LegacyOptions = {}): Promise<LegacyFixture> {
  const u = await makeUnit(o);
  const { vtd, guest } = u;
  const sid = o.sid ?? SID;
  const size = o.size ?? KIB4;
  const iova = o.iova ?? SS_IOVA[size]!;
  const out = o.out ?? OUT[size]!;
  const ss = guest.secondStage({ aw: o.aw ?? 2, nonLeaf: o.nonLeaf ?? {} });
  ss.map(iova, out, { size, ...o.map });
  const contextEntry = guest.legacyDevice(sid, { tt: o.tt ?? 'second-stage', ssptptr: ss.root, aw: ss.aw, did: 5, ...o.context });
  vtd.setRootTable(guest.root(), { scalable: false });
  const mem = vtd.memory;
  const req: TranslateRequest = { sid, iova: iova + OFF };
  return {
    ...u, sid, ss, contextEntry, iova, out, req,
    rootEntry: rootEntryAddress(guest.root(), sid >> 8),
    tr: (over = {}) => vtd.translate({ ...req, ...over }),
    entry: (level) => ss.entryAddress(iova, level),
    read: (gpa) => mem.readU64(gpa),
    write: (gpa, v) => (mem.writeU64(gpa, v), invalidateAll(vtd)),
    set: (gpa, b) => (mem.writeU64(gpa, mem.readU64(gpa) | b), invalidateAll(vtd)),
    clear: (gpa, b) => (mem.writeU64(gpa, mem.readU64(gpa) & ~b), invalidateAll(vtd)),
    invalidate: () => invalidateAll(vtd),
  };
}
