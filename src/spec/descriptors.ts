/**
 * Invalidation-queue descriptors (VT-d spec 6.5.2): types, field layouts, reserved bits, and
 * an encoder/decoder pair per type. The queued-invalidation model decodes with these; guest
 * drivers (and the tests that play one) encode with them, so both sides share one layout.
 *
 * Every descriptor is 128 bits (q0, q1) in a 128-bit queue; in a 256-bit queue (IQA.DW = 1)
 * each slot is 256 bits and q2/q3 are reserved (zero) for every type modelled here. The type
 * is bits 3:0 plus bits 11:9 as type[6:4].
 */
import { VtdArgumentError } from '../errors.js';

export const DescType = {
  CONTEXT_CACHE: 0x1,
  IOTLB: 0x2,
  DEVICE_TLB: 0x3,
  IEC: 0x4,
  WAIT: 0x5,
  PASID_IOTLB: 0x6,
  PASID_CACHE: 0x7,
  PASID_DEVICE_TLB: 0x8,
  /** Page-group response: needs ECAP.PRS, which this unit does not advertise. */
  PAGE_GROUP_RESPONSE: 0x9,
} as const;

export const DESC_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x1: 'context-cache', 0x2: 'iotlb', 0x3: 'device-tlb', 0x4: 'iec', 0x5: 'wait',
  0x6: 'pasid-iotlb', 0x7: 'pasid-cache', 0x8: 'pasid-device-tlb', 0x9: 'page-group-response',
};

/** Types that exist only as 256-bit descriptors: in a 128-bit queue they are an error. */
export const WIDE_ONLY_TYPES: ReadonlySet<number> = new Set([DescType.PASID_IOTLB, DescType.PASID_CACHE, DescType.PASID_DEVICE_TLB]);

/** The descriptor type: bits 3:0, with bits 11:9 as type[6:4]. */
export function descriptorType(q0: bigint): number {
  return Number((q0 & 0xfn) | ((q0 >> 5n) & 0x70n));
}

const ALL = 0xffff_ffff_ffff_ffffn;

/**
 * Reserved bits of q0 and q1 per type (the type bits themselves excluded). Every field a spec
 * revision defined is accepted: PFSID and MIP of the device-TLB descriptors, DR/DW of the IOTLB
 * descriptor, IH. The wait descriptor's PD (bit 7) is reserved: the unit has no page requests
 * (ECAP.PDS = 0).
 */
export const DESC_RESERVED: Readonly<Record<number, readonly [bigint, bigint]>> = {
  [DescType.CONTEXT_CACHE]: [0xfffc_0000_0000_f1c0n, ALL],
  [DescType.IOTLB]: [0xffff_ffff_0000_f100n, 0xf80n],
  [DescType.DEVICE_TLB]: [0x000f_0000_ffe0_01f0n, 0xffen],
  [DescType.IEC]: [0xffff_0000_07ff_f1e0n, ALL],
  [DescType.WAIT]: [0x0000_0000_ffff_f180n, 0x3n],
  [DescType.PASID_IOTLB]: [0xfff0_0000_0000_f1c0n, 0xf80n],
  [DescType.PASID_CACHE]: [0xfff0_0000_0000_f1c0n, ALL],
  [DescType.PASID_DEVICE_TLB]: [0n, 0x7fen],
};

/** The four qwords of a descriptor (q2 and q3 are only written to a 256-bit queue). */
export type DescriptorQwords = [bigint, bigint, bigint, bigint];

const b = (on: boolean | undefined, shift: bigint): bigint => (on ? 1n << shift : 0n);
const bits = (q: bigint, hi: number, lo: number): number => Number((q >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

function u(name: string, v: number | undefined, max: number): bigint {
  const x = v ?? 0;
  if (!Number.isInteger(x) || x < 0 || x > max) throw new VtdArgumentError(`${name} must be an integer in [0, 0x${max.toString(16)}], got ${x}`);
  return BigInt(x);
}

function addr(name: string, v: bigint | undefined, align: bigint): bigint {
  const x = v ?? 0n;
  if (typeof x !== 'bigint' || x < 0n || x >= 1n << 64n) throw new VtdArgumentError(`${name} must be a 64-bit unsigned bigint`);
  if (x % align !== 0n) throw new VtdArgumentError(`${name} must be ${align}-byte aligned, got 0x${x.toString(16)}`);
  return x;
}

function gran<T extends string>(what: string, table: Record<T, number>, g: T | number): bigint {
  if (typeof g === 'number') return u(`${what} granularity`, g, 3);
  const v = table[g];
  if (v === undefined) throw new VtdArgumentError(`unknown ${what} granularity '${String(g)}'`);
  return BigInt(v);
}

function nameOf<T extends string>(table: Record<T, number>, v: number): T | undefined {
  return (Object.keys(table) as T[]).find((k) => table[k] === v);
}

/** Raw bits OR'd into an encoding (tests of reserved-bit handling). */
export interface RawBits {
  raw?: readonly bigint[];
}

function finish(q: DescriptorQwords, raw: readonly bigint[] | undefined): DescriptorQwords {
  raw?.forEach((r, i) => {
    if (i > 3) throw new VtdArgumentError('a descriptor has at most 4 qwords');
    q[i] = q[i]! | BigInt.asUintN(64, r);
  });
  return q;
}

const typeBits = (t: number): bigint => BigInt(t & 0xf) | (BigInt(t >> 4) << 9n);

// ---- 0x1 context-cache invalidate: G 5:4, DID 31:16, SID 47:32, FM 49:48 ----------------------

export const ContextCacheG = { global: 1, domain: 2, device: 3 } as const;
export type ContextCacheGranularity = keyof typeof ContextCacheG;

export interface ContextCacheInv extends RawBits {
  granularity: ContextCacheGranularity | number;
  did?: number;
  sid?: number;
  /** Function mask: 0 none, 1 ignore devfn bit 2, 2 bits 2:1, 3 bits 2:0. */
  fm?: number;
}

export function encodeContextCacheInv(f: ContextCacheInv): DescriptorQwords {
  const q0 = typeBits(DescType.CONTEXT_CACHE) | (gran('context-cache', ContextCacheG, f.granularity) << 4n) |
    (u('did', f.did, 0xffff) << 16n) | (u('sid', f.sid, 0xffff) << 32n) | (u('fm', f.fm, 3) << 48n);
  return finish([q0, 0n, 0n, 0n], f.raw);
}

export function decodeContextCacheInv(q: readonly bigint[]) {
  const g = bits(q[0]!, 5, 4);
  return { g, granularity: nameOf(ContextCacheG, g), did: bits(q[0]!, 31, 16), sid: bits(q[0]!, 47, 32), fm: bits(q[0]!, 49, 48) };
}

// ---- 0x2 IOTLB invalidate: G 5:4, DW 6, DR 7, DID 31:16 | AM 5:0, IH 6, ADDR 63:12 -------------

export const IotlbG = { global: 1, domain: 2, page: 3 } as const;
export type IotlbGranularity = keyof typeof IotlbG;

export interface IotlbInv extends RawBits {
  granularity: IotlbGranularity | number;
  did?: number;
  /** Page-selective: base of the 2^am-page range (4 KiB aligned). */
  addr?: bigint;
  am?: number;
  /** Invalidation hint: only leaf entries changed. */
  ih?: boolean;
  drainReads?: boolean;
  drainWrites?: boolean;
}

export function encodeIotlbInv(f: IotlbInv): DescriptorQwords {
  const q0 = typeBits(DescType.IOTLB) | (gran('IOTLB', IotlbG, f.granularity) << 4n) | b(f.drainWrites, 6n) |
    b(f.drainReads, 7n) | (u('did', f.did, 0xffff) << 16n);
  const q1 = addr('addr', f.addr, 4096n) | b(f.ih, 6n) | u('am', f.am, 0x3f);
  return finish([q0, q1, 0n, 0n], f.raw);
}

export function decodeIotlbInv(q: readonly bigint[]) {
  const g = bits(q[0]!, 5, 4);
  return {
    g, granularity: nameOf(IotlbG, g), did: bits(q[0]!, 31, 16), drainWrites: bits(q[0]!, 6, 6) === 1,
    drainReads: bits(q[0]!, 7, 7) === 1, addr: q[1]! & ~0xfffn, ih: bits(q[1]!, 6, 6) === 1, am: bits(q[1]!, 5, 0),
  };
}

// ---- 0x3 device-TLB invalidate: PFSID 15:12+63:52, MIP 20:16, SID 47:32 | S 0, ADDR 63:12 ---------

export interface DeviceTlbInv extends RawBits {
  sid: number;
  /** Address; with `size` the range is encoded in its low bits (ATS: the lowest clear bit above 12). */
  addr?: bigint;
  /** S: the address encodes a range larger than 4 KiB. */
  size?: boolean;
  pfsid?: number;
  mip?: number;
}

export function encodeDeviceTlbInv(f: DeviceTlbInv): DescriptorQwords {
  const pfsid = u('pfsid', f.pfsid, 0xffff);
  const q0 = typeBits(DescType.DEVICE_TLB) | ((pfsid & 0xfn) << 12n) | (u('mip', f.mip, 0x1f) << 16n) |
    (u('sid', f.sid, 0xffff) << 32n) | ((pfsid >> 4n) << 52n);
  const q1 = addr('addr', f.addr, 4096n) | b(f.size, 0n);
  return finish([q0, q1, 0n, 0n], f.raw);
}

export function decodeDeviceTlbInv(q: readonly bigint[]) {
  return {
    sid: bits(q[0]!, 47, 32), pfsid: bits(q[0]!, 15, 12) | (bits(q[0]!, 63, 52) << 4), mip: bits(q[0]!, 20, 16),
    addr: q[1]! & ~0xfffn, size: bits(q[1]!, 0, 0) === 1,
  };
}

// ---- 0x4 interrupt-entry-cache invalidate: G 4, IM 31:27, IIDX 47:32 ---------------------------

export const IecG = { global: 0, index: 1 } as const;

export interface IecInv extends RawBits {
  granularity: keyof typeof IecG | number;
  index?: number;
  im?: number;
}

export function encodeIecInv(f: IecInv): DescriptorQwords {
  const g = typeof f.granularity === 'number' ? u('IEC granularity', f.granularity, 1) : gran('IEC', IecG, f.granularity);
  const q0 = typeBits(DescType.IEC) | (g << 4n) | (u('im', f.im, 0x1f) << 27n) | (u('index', f.index, 0xffff) << 32n);
  return finish([q0, 0n, 0n, 0n], f.raw);
}

export function decodeIecInv(q: readonly bigint[]) {
  const g = bits(q[0]!, 4, 4);
  return { g, granularity: nameOf(IecG, g), im: bits(q[0]!, 31, 27), index: bits(q[0]!, 47, 32) };
}

// ---- 0x5 invalidation wait: IF 4, SW 5, FN 6, PD 7, status data 63:32 | status address 63:2 ------

export interface WaitDesc extends RawBits {
  /** SW: write `data` (32 bits) to `address` (4-byte aligned) when everything before completed. */
  statusWrite?: { address: bigint; data: number };
  /** IF: raise an invalidation completion event (ICS.IWC, IECTL). */
  interrupt?: boolean;
  /** FN: descriptors after this one wait for it. */
  fence?: boolean;
  /** PD: page-request drain (reserved here: ECAP.PDS = 0). */
  pageRequestDrain?: boolean;
}

export function encodeWaitDesc(f: WaitDesc): DescriptorQwords {
  const sw = f.statusWrite;
  const q0 = typeBits(DescType.WAIT) | b(f.interrupt, 4n) | b(sw !== undefined, 5n) | b(f.fence, 6n) |
    b(f.pageRequestDrain, 7n) | (sw ? u('status data', sw.data, 0xffff_ffff) << 32n : 0n);
  const q1 = sw ? addr('status address', sw.address, 4n) : 0n;
  return finish([q0, q1, 0n, 0n], f.raw);
}

export function decodeWaitDesc(q: readonly bigint[]) {
  return {
    interrupt: bits(q[0]!, 4, 4) === 1, statusWrite: bits(q[0]!, 5, 5) === 1, fence: bits(q[0]!, 6, 6) === 1,
    pageRequestDrain: bits(q[0]!, 7, 7) === 1, data: bits(q[0]!, 63, 32), address: q[1]! & ~3n,
  };
}

// ---- 0x6 PASID-based IOTLB invalidate: G 5:4, DID 31:16, PASID 51:32 | AM 5:0, IH 6, ADDR 63:12 ---

export const PasidIotlbG = { pasid: 2, page: 3 } as const;
export type PasidIotlbGranularity = keyof typeof PasidIotlbG;

export interface PasidIotlbInv extends RawBits {
  /** 'pasid': every entry of DID + PASID; 'page': first-stage entries of DID + PASID in the range. */
  granularity: PasidIotlbGranularity | number;
  did: number;
  pasid: number;
  addr?: bigint;
  am?: number;
  ih?: boolean;
}

export function encodePasidIotlbInv(f: PasidIotlbInv): DescriptorQwords {
  const q0 = typeBits(DescType.PASID_IOTLB) | (gran('PASID-based IOTLB', PasidIotlbG, f.granularity) << 4n) |
    (u('did', f.did, 0xffff) << 16n) | (u('pasid', f.pasid, 0xfffff) << 32n);
  const q1 = addr('addr', f.addr, 4096n) | b(f.ih, 6n) | u('am', f.am, 0x3f);
  return finish([q0, q1, 0n, 0n], f.raw);
}

export function decodePasidIotlbInv(q: readonly bigint[]) {
  const g = bits(q[0]!, 5, 4);
  return {
    g, granularity: nameOf(PasidIotlbG, g), did: bits(q[0]!, 31, 16), pasid: bits(q[0]!, 51, 32),
    addr: q[1]! & ~0xfffn, ih: bits(q[1]!, 6, 6) === 1, am: bits(q[1]!, 5, 0),
  };
}

// ---- 0x7 PASID-cache invalidate: G 5:4 (0 domain, 1 PASID, 3 global), DID 31:16, PASID 51:32 ----

export const PasidCacheG = { domain: 0, pasid: 1, global: 3 } as const;
export type PasidCacheGranularity = keyof typeof PasidCacheG;

export interface PasidCacheInv extends RawBits {
  granularity: PasidCacheGranularity | number;
  did?: number;
  pasid?: number;
}

export function encodePasidCacheInv(f: PasidCacheInv): DescriptorQwords {
  const q0 = typeBits(DescType.PASID_CACHE) | (gran('PASID-cache', PasidCacheG, f.granularity) << 4n) |
    (u('did', f.did, 0xffff) << 16n) | (u('pasid', f.pasid, 0xfffff) << 32n);
  return finish([q0, 0n, 0n, 0n], f.raw);
}

export function decodePasidCacheInv(q: readonly bigint[]) {
  const g = bits(q[0]!, 5, 4);
  return { g, granularity: nameOf(PasidCacheG, g), did: bits(q[0]!, 31, 16), pasid: bits(q[0]!, 51, 32) };
}

// ---- 0x8 PASID-based device-TLB invalidate: MIP 8:4, PFSID 15:12+63:52, SID 31:16, PASID 51:32 |
//      G 0 (all PASIDs), S 11, ADDR 63:12 ----------------------------------------------------------

export interface PasidDeviceTlbInv extends RawBits {
  sid: number;
  pasid: number;
  /** G: every PASID of the device (the PASID field is ignored). */
  global?: boolean;
  addr?: bigint;
  size?: boolean;
  pfsid?: number;
  mip?: number;
}

export function encodePasidDeviceTlbInv(f: PasidDeviceTlbInv): DescriptorQwords {
  const pfsid = u('pfsid', f.pfsid, 0xffff);
  const q0 = typeBits(DescType.PASID_DEVICE_TLB) | (u('mip', f.mip, 0x1f) << 4n) | ((pfsid & 0xfn) << 12n) |
    (u('sid', f.sid, 0xffff) << 16n) | (u('pasid', f.pasid, 0xfffff) << 32n) | ((pfsid >> 4n) << 52n);
  const q1 = addr('addr', f.addr, 4096n) | b(f.global, 0n) | b(f.size, 11n);
  return finish([q0, q1, 0n, 0n], f.raw);
}

export function decodePasidDeviceTlbInv(q: readonly bigint[]) {
  return {
    sid: bits(q[0]!, 31, 16), pasid: bits(q[0]!, 51, 32), mip: bits(q[0]!, 8, 4),
    pfsid: bits(q[0]!, 15, 12) | (bits(q[0]!, 63, 52) << 4), global: bits(q[1]!, 0, 0) === 1,
    size: bits(q[1]!, 11, 11) === 1, addr: q[1]! & ~0xfffn,
  };
}

/**
 * The range a device-TLB invalidation covers (PCIe ATS invalidate request): S = 0 is the 4 KiB
 * page at ADDR; S = 1 encodes the size in the address: the lowest clear bit at or above 12
 * gives 2^(bit + 1) bytes, aligned.
 */
export function deviceTlbRange(address: bigint, size: boolean): { addr: bigint; bytes: bigint } {
  const a = address & ~0xfffn;
  if (!size) return { addr: a, bytes: 4096n };
  let bit = 12n;
  while (bit < 64n && (a >> bit) & 1n) bit++;
  const bytes = bit >= 63n ? 1n << 64n : 1n << (bit + 1n);
  return { addr: bytes >= 1n << 64n ? 0n : a & ~(bytes - 1n), bytes };
}
