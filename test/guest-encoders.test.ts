/**
 * The guest-side encoders (src/guest/): the exact bits each VT-d structure gets, page-table
 * map/unmap read back through guest memory, and every argument error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeLegacyContextEntry, encodeLegacyRootEntry, encodePasidDirEntry, encodePasidEntry,
  encodeScalableContextEntry, encodeScalableRootEntry, FirstStageTable, FsPte, GuestBuilder,
  GuestEncodeError, GuestPageAllocator, legacyContextEntryAddress, PAGE_1G, PAGE_2M, PAGE_4K,
  pasidDirEntryAddress, pasidEntryAddress, PGTT, readEntry, rootEntryAddress,
  scalableContextEntryAddress, SecondStageTable, setScalableContext, SsPte, TT,
  writeLegacyContextEntry, writePasidDirEntry, writePasidEntry, writeScalableContextEntry,
  writeScalableRootEntry, type GuestMemoryLike,
} from '../src/guest/index.js';

/** Sparse guest memory; unwritten qwords read as `background` (poison, to catch missing zeroing). */
class MapMemory implements GuestMemoryLike {
  readonly words = new Map<bigint, bigint>();
  constructor(private readonly background = 0n) {}
  readU64(gpa: bigint): bigint {
    if (gpa % 8n !== 0n) throw new Error(`unaligned read ${gpa}`);
    return this.words.get(gpa) ?? this.background;
  }
  writeU64(gpa: bigint, v: bigint): void {
    if (gpa % 8n !== 0n) throw new Error(`unaligned write ${gpa}`);
    if (v < 0n || v >= 1n << 64n) throw new Error(`value out of range ${v}`);
    this.words.set(gpa, v);
  }
}

/** Bits hi:lo of v. */
const bits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
/** Bit n of a multi-qword entry (VT-d numbering: bit n is bit n % 64 of qword n / 64). */
const bit = (q: readonly bigint[], n: number): bigint => (q[Math.floor(n / 64)]! >> BigInt(n % 64)) & 1n;
const MiB = 1n << 20n;
const RAM = { base: 0x1_0000_0000n, size: 64n * MiB }; // above 4 GiB, like a q35 guest's tables

const setup = () => {
  const mem = new MapMemory();
  return { mem, alloc: new GuestPageAllocator(mem, [RAM]) };
};

const throwsEncode = (fn: () => unknown, message: RegExp) => {
  expect(fn).toThrow(GuestEncodeError);
  expect(fn).toThrow(message);
};

/** An independent x86-64/second-stage walk over MapMemory: [output address, page size] or undefined. */
function lookup(mem: GuestMemoryLike, root: bigint, levels: number, iova: bigint, kind: 'fs' | 'ss') {
  let table = root;
  for (let l = levels; l >= 1; l--) {
    const e = mem.readU64(table + ((iova >> BigInt(12 + 9 * (l - 1))) & 511n) * 8n);
    const present = kind === 'fs' ? (e & 1n) !== 0n : (e & 3n) !== 0n;
    if (!present) return undefined;
    const shift = BigInt(12 + 9 * (l - 1));
    if (l === 1 || (l <= 3 && (e & 0x80n) !== 0n)) {
      const addr = e & 0x000f_ffff_ffff_f000n & ~((1n << shift) - 1n);
      return [addr | (iova & ((1n << shift) - 1n)), Number(1n << shift)] as const;
    }
    table = e & 0x000f_ffff_ffff_f000n;
  }
  return undefined;
}

describe('GuestEncodeError', () => {
  it('is an Error named GuestEncodeError whose message names the argument and the rule', () => {
    const e = (() => {
      try {
        rootEntryAddress(0x1000n, 256);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(GuestEncodeError);
    expect((e as Error).name).toBe('GuestEncodeError');
    expect((e as Error).message).toBe('bus must be an integer in [0, 0xff], got 0x100');
  });
});

describe('GuestPageAllocator', () => {
  it('hands out distinct 4 KiB-aligned pages inside its range', () => {
    const { alloc } = setup();
    const pages = [alloc.alloc(), alloc.alloc(), alloc.alloc()];
    expect(new Set(pages).size).toBe(3);
    for (const p of pages) {
      expect(p % 4096n).toBe(0n);
      expect(p >= RAM.base && p + 4096n <= RAM.base + RAM.size).toBe(true);
    }
  });

  it('zeroes every qword of the pages it hands out through writeU64', () => {
    const mem = new MapMemory(0xdead_beefn);
    const alloc = new GuestPageAllocator(mem, [RAM]);
    const p = alloc.alloc(2);
    for (let a = p; a < p + 8192n; a += 8n) expect(mem.readU64(a)).toBe(0n);
    expect(mem.readU64(p + 8192n)).toBe(0xdead_beefn);
  });

  it('zeroes through fill(gpa, len, 0) when the memory has one', () => {
    const calls: unknown[][] = [];
    const mem = Object.assign(new MapMemory(), { fill: (...args: unknown[]) => void calls.push(args) });
    new GuestPageAllocator(mem, [RAM]).alloc(3);
    expect(calls).toEqual([[RAM.base, 3 * 4096, 0]]);
    expect(mem.words.size).toBe(0);
  });

  it('zeroes a freed page again when it is handed out again', () => {
    const { mem, alloc } = setup();
    const p = alloc.alloc();
    mem.writeU64(p + 16n, 0x1234n);
    alloc.free(p);
    expect(alloc.alloc()).toBe(p);
    expect(mem.readU64(p + 16n)).toBe(0n);
  });

  it('counts used and available pages', () => {
    const { alloc } = setup();
    expect(alloc.total).toBe(16384);
    const p = alloc.alloc(5);
    expect([alloc.used, alloc.available]).toEqual([5, 16379]);
    alloc.free(p, 5);
    expect([alloc.used, alloc.available]).toEqual([0, 16384]);
  });

  it('aligns to alignPages pages', () => {
    const { alloc } = setup();
    alloc.alloc();
    expect(alloc.alloc(1, 16) % (16n * 4096n)).toBe(0n);
  });

  it('merges freed neighbours so a large block fits again', () => {
    const mem = new MapMemory();
    const alloc = new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0x4000n }]);
    const ps = [alloc.alloc(), alloc.alloc(), alloc.alloc(), alloc.alloc()];
    alloc.free(ps[1]!);
    alloc.free(ps[3]!);
    alloc.free(ps[2]!);
    alloc.free(ps[0]!);
    expect(alloc.alloc(4)).toBe(0x10000n);
  });

  it('uses every range but never hands out a block spanning two ranges', () => {
    const mem = new MapMemory();
    const alloc = new GuestPageAllocator(mem, [
      { base: 0x10000n, size: 0x1000n },
      { base: 0x11000n, size: 0x1000n },
    ]);
    expect(() => alloc.alloc(2)).toThrow(/exhausted/);
    expect([alloc.alloc(), alloc.alloc()]).toEqual([0x10000n, 0x11000n]);
  });

  it('throws when exhausted', () => {
    const mem = new MapMemory();
    const alloc = new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0x2000n }]);
    alloc.alloc(2);
    throwsEncode(() => alloc.alloc(), /allocator exhausted: no 1 free contiguous page\(s\)/);
  });

  it('rejects bad ranges and arguments', () => {
    const mem = new MapMemory();
    throwsEncode(() => new GuestPageAllocator(mem, []), /ranges must hold at least one range/);
    throwsEncode(() => new GuestPageAllocator(mem, [{ base: 0x10010n, size: 0x1000n }]), /ranges\[0\]\.base must be 4 KiB aligned/);
    throwsEncode(() => new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0x1800n }]), /ranges\[0\]\.size must be 4 KiB aligned/);
    throwsEncode(() => new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0n }]), /ranges\[0\]\.size must be > 0/);
    throwsEncode(
      () => new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0x2000n }, { base: 0x11000n, size: 0x1000n }]),
      /ranges\[0\] and ranges\[1\] must not overlap/,
    );
    const alloc = new GuestPageAllocator(mem, [{ base: 0x10000n, size: 0x4000n }]);
    throwsEncode(() => alloc.alloc(0), /pages must be >= 1/);
    throwsEncode(() => alloc.alloc(1.5), /pages must be an integer/);
    throwsEncode(() => alloc.alloc(1, 3), /alignPages must be a power of two/);
    const p = alloc.alloc();
    throwsEncode(() => alloc.free(p + 8n), /gpa must be 4 KiB aligned/);
    throwsEncode(() => alloc.free(0x20000n), /must lie inside one allocator range/);
    alloc.free(p);
    throwsEncode(() => alloc.free(p), /overlaps free pages \(double free\?\)/);
  });
});

describe('root entries', () => {
  it('the root entry for a bus is at RTA + bus * 16', () => {
    expect(rootEntryAddress(0x1000n, 0)).toBe(0x1000n);
    expect(rootEntryAddress(0x1000n, 255)).toBe(0x1000n + 255n * 16n);
  });

  it('scalable: LP is bit 0 and LCTP bits 63:12; UP is bit 64 and UCTP bits 127:76', () => {
    const q = encodeScalableRootEntry({ lctp: 0x1_2345_6000n, uctp: 0xffff_f000n });
    expect(bit(q, 0)).toBe(1n);
    expect(bits(q[0]!, 63, 12)).toBe(0x1_2345_6n);
    expect(bit(q, 64)).toBe(1n);
    expect(bits(q[1]!, 63, 12)).toBe(0xffff_fn);
    expect(bits(q[0]!, 11, 1) | bits(q[1]!, 11, 1)).toBe(0n);
  });

  it('scalable: a half without a pointer is not present; present can be forced either way', () => {
    expect(encodeScalableRootEntry({ lctp: 0x5000n })).toEqual([0x5001n, 0n]);
    expect(encodeScalableRootEntry({ uctp: 0x5000n, up: false })).toEqual([0n, 0x5000n]);
    expect(encodeScalableRootEntry({ lp: true })).toEqual([1n, 0n]);
  });

  it('setScalableContext uses the lower context table for devfn < 128', () => {
    const mem = new MapMemory();
    const at = setScalableContext(mem, 0x10000n, 3, 0x7f, 0x20000n);
    expect(readEntry(mem, 0x10000n + 3n * 16n, 2)).toEqual([0x20001n, 0n]);
    expect(at).toBe(0x20000n + 0x7fn * 32n);
  });

  it('setScalableContext uses the upper context table for devfn >= 128, index devfn - 128', () => {
    const mem = new MapMemory();
    const at = setScalableContext(mem, 0x10000n, 0, 0xfb, 0x30000n); // 00:1f.3
    expect(readEntry(mem, 0x10000n, 2)).toEqual([0n, 0x30001n]);
    expect(at).toBe(0x30000n + (0xfbn - 128n) * 32n);
  });

  it('setScalableContext keeps the other half', () => {
    const mem = new MapMemory();
    writeScalableRootEntry(mem, 0x10000n, 0, { lctp: 0x20000n });
    setScalableContext(mem, 0x10000n, 0, 0x80, 0x30000n);
    expect(readEntry(mem, 0x10000n, 2)).toEqual([0x20001n, 0x30001n]);
  });

  it('legacy: P is bit 0, CTP bits 63:12, the upper qword is zero', () => {
    expect(encodeLegacyRootEntry({ ctp: 0x2_0000_0000n })).toEqual([0x2_0000_0001n, 0n]);
    expect(encodeLegacyRootEntry({ ctp: 0x3000n, present: false })).toEqual([0x3000n, 0n]);
  });

  it('raw qwords are OR-ed in (for reserved-bit tests)', () => {
    expect(encodeScalableRootEntry({ lctp: 0x1000n, raw: [0x2n, 0x800n] })).toEqual([0x1003n, 0x800n]);
    expect(encodeLegacyRootEntry({ ctp: 0x1000n, raw: [0n, 1n] })).toEqual([0x1001n, 1n]);
  });

  it('rejects bus > 255, devfn > 255, unaligned RTA or context-table pointers', () => {
    const mem = new MapMemory();
    throwsEncode(() => rootEntryAddress(0x1000n, 256), /bus must be an integer in \[0, 0xff\]/);
    throwsEncode(() => rootEntryAddress(0x1080n, 0), /rta must be 4 KiB aligned/);
    throwsEncode(() => setScalableContext(mem, 0x1000n, 0, 256, 0x2000n), /devfn must be an integer in \[0, 0xff\]/);
    throwsEncode(() => setScalableContext(mem, 0x1000n, 0, 1, 0x2010n), /ctp must be 4 KiB aligned/);
    throwsEncode(() => encodeScalableRootEntry({ uctp: 0x800n }), /uctp must be 4 KiB aligned/);
    throwsEncode(() => encodeLegacyRootEntry({ ctp: 1n << 64n }), /ctp must be a bigint in \[0, 2\^64\)/);
    throwsEncode(() => encodeLegacyRootEntry({ ctp: 0n, raw: [0n, 0n, 0n] }), /legacy root entry has 2 qwords, got 3 raw qwords/);
  });
});

describe('scalable-mode context entry (256 bits)', () => {
  const base = { pasidDirPtr: 0x4_0000_0000n };
  it('P is bit 0 and present by default', () => {
    expect(bit(encodeScalableContextEntry(base), 0)).toBe(1n);
    expect(bit(encodeScalableContextEntry({ ...base, present: false }), 0)).toBe(0n);
  });
  it('FPD is bit 1, DTE bit 2, PASIDE bit 3, PRE bit 4', () => {
    expect(encodeScalableContextEntry({ ...base, present: false, fpd: true })[0]! & 0xfffn).toBe(0b10n);
    expect(encodeScalableContextEntry({ ...base, present: false, dte: true })[0]! & 0xfffn).toBe(0b100n);
    expect(encodeScalableContextEntry({ ...base, present: false, paside: true })[0]! & 0xfffn).toBe(0b1000n);
    expect(encodeScalableContextEntry({ ...base, present: false, pre: true })[0]! & 0xfffn).toBe(0b10000n);
  });
  it('PDTS is bits 11:9 and bits 8:5 stay clear', () => {
    const q = encodeScalableContextEntry({ ...base, pdts: 5 });
    expect(bits(q[0]!, 11, 9)).toBe(5n);
    expect(bits(q[0]!, 8, 5)).toBe(0n);
  });
  it('PASIDDIRPTR is bits 63:12', () => {
    expect(bits(encodeScalableContextEntry(base)[0]!, 63, 12)).toBe(0x4_0000_0n);
  });
  it('RID_PASID is bits 83:64 and RID_PRIV bit 84; bits 255:85 are zero', () => {
    const q = encodeScalableContextEntry({ ...base, ridPasid: 0xfffff, ridPriv: true });
    expect(bits(q[1]!, 19, 0)).toBe(0xfffffn);
    expect(bit(q, 84)).toBe(1n);
    expect(q[1]! >> 21n).toBe(0n);
    expect([q[2], q[3]]).toEqual([0n, 0n]);
  });
  it('what Linux writes: q0 = PASID-directory pointer | PDTS=2 | P, q1 = 0', () => {
    expect(encodeScalableContextEntry({ ...base, pdts: 2 })).toEqual([0x4_0000_0000n | (2n << 9n) | 1n, 0n, 0n, 0n]);
  });
  it('is written at CTP + (devfn & 127) * 32', () => {
    const mem = new MapMemory();
    expect(scalableContextEntryAddress(0x8000n, 0x85)).toBe(0x8000n + 5n * 32n);
    const at = writeScalableContextEntry(mem, 0x8000n, 0x85, { ...base, raw: [0n, 0n, 0n, 0xan] });
    expect(at).toBe(0x8000n + 5n * 32n);
    expect(readEntry(mem, at, 4)).toEqual([0x4_0000_0001n, 0n, 0n, 0xan]);
  });
  it('rejects PDTS > 7, RID_PASID > 0xFFFFF and an unaligned directory pointer', () => {
    throwsEncode(() => encodeScalableContextEntry({ ...base, pdts: 8 }), /pdts must be an integer in \[0, 0x7\]/);
    throwsEncode(() => encodeScalableContextEntry({ ...base, ridPasid: 0x100000 }), /ridPasid must be an integer in \[0, 0xfffff\]/);
    throwsEncode(() => encodeScalableContextEntry({ pasidDirPtr: 0x4_0000_0800n }), /pasidDirPtr must be 4 KiB aligned/);
    throwsEncode(() => encodeScalableContextEntry({ ...base, raw: [0n, 0n, 0n, 0n, 1n] }), /has 4 qwords, got 5/);
  });
});

describe('legacy context entry (128 bits)', () => {
  it('P bit 0, FPD bit 1, TT bits 3:2, SSPTPTR bits 63:12', () => {
    const q = encodeLegacyContextEntry({ fpd: true, tt: 'pass-through', ssptptr: 0x7000n });
    expect(q[0]).toBe(0x7000n | (0b10n << 2n) | 0b11n);
  });
  it('TT names: second-stage 00b, device-tlb 01b, pass-through 10b; raw values allowed', () => {
    const tt = (t: NonNullable<Parameters<typeof encodeLegacyContextEntry>[0]['tt']>) => bits(encodeLegacyContextEntry({ tt: t })[0]!, 3, 2);
    expect([tt('second-stage'), tt('device-tlb'), tt('pass-through'), tt(TT.PASS_THROUGH), tt(3)]).toEqual([0n, 1n, 2n, 2n, 3n]);
  });
  it('AW is bits 66:64 and DID bits 87:72', () => {
    const q = encodeLegacyContextEntry({ aw: 2, did: 0xbeef });
    expect(bits(q[1]!, 2, 0)).toBe(2n);
    expect(bits(q[1]!, 23, 8)).toBe(0xbeefn);
    expect(q[1]! >> 24n).toBe(0n);
  });
  it('is written at CTP + devfn * 16', () => {
    const mem = new MapMemory();
    expect(legacyContextEntryAddress(0x8000n, 0x85)).toBe(0x8000n + 0x85n * 16n);
    const at = writeLegacyContextEntry(mem, 0x8000n, 0x85, { ssptptr: 0x9000n, aw: 1, did: 3 });
    expect(readEntry(mem, at, 2)).toEqual([0x9001n, 0x301n]);
  });
  it('rejects DID > 0xFFFF, AW > 7, unknown TT and an unaligned SSPTPTR', () => {
    throwsEncode(() => encodeLegacyContextEntry({ did: 0x10000 }), /did must be an integer in \[0, 0xffff\]/);
    throwsEncode(() => encodeLegacyContextEntry({ aw: 8 }), /aw must be an integer in \[0, 0x7\]/);
    throwsEncode(() => encodeLegacyContextEntry({ tt: 4 }), /tt must be an integer in \[0, 0x3\]/);
    throwsEncode(() => encodeLegacyContextEntry({ tt: 'nested' as 'pass-through' }), /tt must be 'second-stage'/);
    throwsEncode(() => encodeLegacyContextEntry({ ssptptr: 0x9004n }), /ssptptr must be 4 KiB aligned/);
  });
});

describe('PASID directory entry (64 bits)', () => {
  it('P bit 0, FPD bit 1, PASID-table pointer bits 63:12', () => {
    expect(encodePasidDirEntry({ pasidTablePtr: 0x1_0000_3000n })).toBe(0x1_0000_3001n);
    expect(encodePasidDirEntry({ pasidTablePtr: 0x3000n, present: false, fpd: true })).toBe(0x3002n);
  });
  it('the entry for a PASID is at PASIDDIRPTR + (pasid >> 6) * 8', () => {
    expect(pasidDirEntryAddress(0x10000n, 0x12345)).toBe(0x10000n + (0x12345n >> 6n) * 8n);
    const mem = new MapMemory();
    const at = writePasidDirEntry(mem, 0x10000n, 64, { pasidTablePtr: 0x5000n });
    expect([at, mem.readU64(at)]).toEqual([0x10008n, 0x5001n]);
  });
  it('rejects PASID > 0xFFFFF and an unaligned table pointer', () => {
    throwsEncode(() => pasidDirEntryAddress(0x10000n, 0x100000), /pasid must be an integer in \[0, 0xfffff\]/);
    throwsEncode(() => encodePasidDirEntry({ pasidTablePtr: 0x5008n }), /pasidTablePtr must be 4 KiB aligned/);
  });
});

describe('PASID table entry (512 bits)', () => {
  const fs = { pgtt: 'first-stage' as const };
  it('is 8 qwords, present by default; q3..q7 are zero', () => {
    const q = encodePasidEntry(fs);
    expect(q).toHaveLength(8);
    expect(bit(q, 0)).toBe(1n);
    expect(q.slice(3)).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(bit(encodePasidEntry({ ...fs, present: false }), 0)).toBe(0n);
  });
  it('PGTT first-stage sets bits 8:6 of q0 to 001b', () => {
    expect(bits(encodePasidEntry(fs)[0]!, 8, 6)).toBe(0b001n);
  });
  it('PGTT second-stage 010b, nested 011b, pass-through 100b; constants and raw values too', () => {
    const pgtt = (p: Parameters<typeof encodePasidEntry>[0]['pgtt']) => bits(encodePasidEntry({ pgtt: p })[0]!, 8, 6);
    expect([pgtt('second-stage'), pgtt('nested'), pgtt('pass-through')]).toEqual([0b010n, 0b011n, 0b100n]);
    expect([pgtt(PGTT.FIRST_STAGE), pgtt(PGTT.SECOND_STAGE), pgtt(PGTT.NESTED), pgtt(PGTT.PASS_THROUGH)]).toEqual([1n, 2n, 3n, 4n]);
    expect([pgtt(0), pgtt(7)]).toEqual([0n, 7n]);
  });
  it('FPD is bit 1, AW bits 4:2, SSPTPTR bits 63:12', () => {
    const q0 = encodePasidEntry({ pgtt: 'second-stage', fpd: true, aw: 3, ssptptr: 0x2_0000_0000n })[0]!;
    expect(bit([q0], 1)).toBe(1n);
    expect(bits(q0, 4, 2)).toBe(3n);
    expect(bits(q0, 63, 12)).toBe(0x2_0000_0n);
    expect(bits(q0, 11, 9)).toBe(0n);
  });
  it('DID is bits 79:64', () => {
    const q = encodePasidEntry({ ...fs, did: 0xffff });
    expect(q[1]).toBe(0xffffn);
  });
  it('SRE is bit 128, ERE bit 129, WPE bit 132, NXE bit 133, SMEP bit 134, EAFE bit 135', () => {
    const only = (f: object) => encodePasidEntry({ ...fs, ...f })[2]!;
    expect(only({ sre: true })).toBe(1n << 0n);
    expect(only({ ere: true })).toBe(1n << 1n);
    expect(only({ wpe: true })).toBe(1n << 4n);
    expect(only({ nxe: true })).toBe(1n << 5n);
    expect(only({ smep: true })).toBe(1n << 6n);
    expect(only({ eafe: true })).toBe(1n << 7n);
  });
  it('FSPM 5-level is q2 bits 3:2 = 01b; 4-level 00b', () => {
    expect(bits(encodePasidEntry({ ...fs, levels: 5 })[2]!, 3, 2)).toBe(0b01n);
    expect(bits(encodePasidEntry({ ...fs, fspm: 1 })[2]!, 3, 2)).toBe(0b01n);
    expect(bits(encodePasidEntry({ ...fs, levels: 4 })[2]!, 3, 2)).toBe(0b00n);
    expect(bits(encodePasidEntry({ ...fs, fspm: 3 })[2]!, 3, 2)).toBe(0b11n);
  });
  it('FSPTPTR is q2 bits 63:12', () => {
    expect(bits(encodePasidEntry({ ...fs, fsptptr: 0x1_2345_6000n })[2]!, 63, 12)).toBe(0x1_2345_6n);
  });
  it("what Linux writes under QEMU's first-stage mode: PGTT 001b, AW 2, FSPM 0, NXE (bit 133)", () => {
    const q = encodePasidEntry({ pgtt: 'first-stage', aw: 2, did: 7, nxe: true, fsptptr: 0x5000n });
    expect(q.slice(0, 3)).toEqual([(1n << 6n) | (2n << 2n) | 1n, 7n, 0x5000n | (1n << 5n)]);
  });
  it('raw qwords are OR-ed in', () => {
    const q = encodePasidEntry({ ...fs, raw: [1n << 10n, 1n << 16n, 0n, 0n, 0n, 0n, 0n, 1n << 63n] });
    expect([bit(q, 10), bit(q, 64 + 16), bit(q, 511)]).toEqual([1n, 1n, 1n]);
  });
  it('is written at PASID-table pointer + (pasid & 63) * 64', () => {
    expect(pasidEntryAddress(0x6000n, 0x12345)).toBe(0x6000n + (0x12345n & 63n) * 64n);
    const mem = new MapMemory();
    const at = writePasidEntry(mem, 0x6000n, 65, { pgtt: 'pass-through', did: 2 });
    expect(at).toBe(0x6040n);
    expect(readEntry(mem, at, 8)).toEqual([(4n << 6n) | 1n, 2n, 0n, 0n, 0n, 0n, 0n, 0n]);
  });
  it('rejects out-of-range fields, unknown PGTT names, conflicting FSPM/levels and unaligned pointers', () => {
    throwsEncode(() => encodePasidEntry({ ...fs, did: 0x10000 }), /did must be an integer in \[0, 0xffff\]/);
    throwsEncode(() => encodePasidEntry({ ...fs, aw: 8 }), /aw must be an integer in \[0, 0x7\]/);
    throwsEncode(() => encodePasidEntry({ pgtt: 8 }), /pgtt must be an integer in \[0, 0x7\]/);
    throwsEncode(() => encodePasidEntry({ pgtt: 'toString' as 'nested' }), /pgtt must be 'first-stage'/);
    throwsEncode(() => encodePasidEntry({ ...fs, fspm: 4 }), /fspm must be an integer in \[0, 0x3\]/);
    throwsEncode(() => encodePasidEntry({ ...fs, levels: 3 as 4 }), /levels must be 4 or 5/);
    throwsEncode(() => encodePasidEntry({ ...fs, levels: 5, fspm: 0 }), /fspm 0 contradicts levels 5/);
    throwsEncode(() => encodePasidEntry({ ...fs, fsptptr: 0x5001n }), /fsptptr must be 4 KiB aligned/);
    throwsEncode(() => encodePasidEntry({ ...fs, ssptptr: -0x1000n }), /ssptptr must be a bigint in \[0, 2\^64\)/);
    throwsEncode(() => pasidEntryAddress(0x6000n, -1), /pasid must be an integer/);
  });
});

describe('FirstStageTable', () => {
  it('allocates a zeroed root page', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    expect([t.root % 4096n, t.levels, alloc.used]).toEqual([0n, 4, 1]);
  });

  it('a 4 KiB map creates one table per level; non-leaf entries are P|RW|US without A or XD', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    const iova = 0x0000_1234_5678_9000n;
    t.map(iova, 0xabc_d000n);
    expect(alloc.used).toBe(4);
    let table = t.root;
    for (const l of [4, 3, 2]) {
      const at = table + ((iova >> BigInt(12 + 9 * (l - 1))) & 511n) * 8n;
      expect(t.entryAddress(iova, l)).toBe(at);
      const e = mem.readU64(at);
      expect(e & 0xfffn).toBe(FsPte.P | FsPte.RW | FsPte.US);
      expect(e & FsPte.XD).toBe(0n);
      table = e & FsPte.ADDR;
    }
    expect(t.entryAddress(iova, 1)).toBe(table + ((iova >> 12n) & 511n) * 8n);
  });

  it('a default leaf is P|RW|US with the address in bits 51:12', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    const at = t.map(0x5000n, 0x000f_ffff_ffff_f000n);
    expect(mem.readU64(at)).toBe(0x000f_ffff_ffff_f000n | FsPte.P | FsPte.RW | FsPte.US);
  });

  it('leaf options: write → RW (bit 1), user → U/S (bit 2), accessed → A (bit 5), dirty → D (bit 6), xd → XD (bit 63)', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    expect(mem.readU64(t.map(0x1000n, 0n, { write: false, user: false }))).toBe(FsPte.P);
    expect(mem.readU64(t.map(0x2000n, 0n, { accessed: true, dirty: true }))).toBe(0b110_0111n);
    expect(mem.readU64(t.map(0x3000n, 0n, { xd: true }))).toBe((1n << 63n) | 0b111n);
    expect(mem.readU64(t.map(0x4000n, 0n, { raw: 1n << 12n }))).toBe((1n << 12n) | 0b111n);
  });

  it('a 2 MiB page is a level-2 leaf with PS (bit 7); a 1 GiB page a level-3 leaf with PS', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    const a2 = t.map(0x4020_0000n, 0x20_0000n, { size: PAGE_2M });
    expect(a2).toBe(t.entryAddress(0x4020_0000n, 2));
    expect(mem.readU64(a2)).toBe(0x20_0000n | FsPte.PS | 0b111n);
    const a1 = t.map(0x8000_0000n, 0x4000_0000n, { size: PAGE_1G });
    expect(a1).toBe(t.entryAddress(0x8000_0000n, 3));
    expect(mem.readU64(a1)).toBe(0x4000_0000n | FsPte.PS | 0b111n);
  });

  it('5-level: the level-5 index is iova bits 56:48', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc, { levels: 5 });
    const iova = 0x00ab_0000_0000_0000n;
    t.map(iova, 0x1000n);
    expect(t.entryAddress(iova, 5)).toBe(t.root + 0xabn * 8n);
    expect(lookup(mem, t.root, 5, iova + 0x123n, 'fs')).toEqual([0x1123n, PAGE_4K]);
  });

  it('accepts upper-canonical-half IOVAs (bits 63:47 set): level-4 index 511', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    const iova = 0xffff_ffff_ffff_f000n;
    t.map(iova, 0x7000n);
    expect(t.entryAddress(iova, 4)).toBe(t.root + 511n * 8n);
    expect(t.entryAddress(iova, 1) & 0xfffn).toBe(511n * 8n);
    expect(lookup(mem, t.root, 4, iova, 'fs')).toEqual([0x7000n, PAGE_4K]);
  });

  it('nonLeaf overrides the bits of the tables it creates (Linux: XD at every level)', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc, { nonLeaf: { xd: true, accessed: true, user: false, write: false } });
    t.map(0x1000n, 0x2000n, { xd: true });
    for (const l of [4, 3, 2]) {
      const e = mem.readU64(t.entryAddress(0x1000n, l));
      expect([e & FsPte.XD, e & 0xfffn]).toEqual([FsPte.XD, FsPte.P | FsPte.A]);
    }
  });

  it('mapping the same page again rewrites the leaf; tables are reused', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    t.map(0x1000n, 0x2000n);
    const used = alloc.used;
    const at = t.map(0x1000n, 0x3000n, { write: false });
    expect(alloc.used).toBe(used);
    expect(mem.readU64(at)).toBe(0x3000n | FsPte.P | FsPte.US);
  });

  it('unmap clears the leaf and returns its size; 0 when nothing is mapped', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    t.map(0x4000_0000n, 0n, { size: PAGE_1G });
    t.map(0x1000n, 0n);
    expect(t.unmap(0x4000_0000n)).toBe(PAGE_1G);
    expect(mem.readU64(t.entryAddress(0x4000_0000n, 3))).toBe(0n);
    expect(t.unmap(0x4000_0000n)).toBe(0);
    expect(t.unmap(0x7fff_0000_0000n)).toBe(0);
    expect(t.unmap(0x1000n)).toBe(PAGE_4K);
    expect(lookup(mem, t.root, 4, 0x1000n, 'fs')).toBeUndefined();
  });

  it('map/unmap round trip: random 4 KiB/2 MiB/1 GiB pages in both canonical halves read back through memory', () => {
    // One page per 1 GiB region, so pages never overlap.
    const page = fc.record({
      region: fc.integer({ min: 0, max: 2 ** 18 - 1 }),
      size: fc.constantFrom(PAGE_4K, PAGE_2M, PAGE_1G),
      slot: fc.integer({ min: 0, max: 2 ** 18 - 1 }),
      frame: fc.bigInt({ min: 0n, max: (1n << 22n) - 1n }),
      offset: fc.integer({ min: 0, max: PAGE_4K - 1 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(page, { minLength: 1, maxLength: 12, selector: (p) => p.region }), (pages) => {
        const { mem, alloc } = setup();
        const t = new FirstStageTable(mem, alloc);
        const sext = (v: bigint) => (v & (1n << 47n) ? v | (0xffffn << 48n) : v);
        const placed = pages.map((p) => {
          const size = BigInt(p.size);
          const iova = sext((BigInt(p.region) << 30n) + ((BigInt(p.slot) * 4096n) / size) * size % (1n << 30n));
          const gpa = (p.frame * size) & ((1n << 52n) - 1n);
          t.map(iova, gpa, { size: p.size });
          return { ...p, iova, gpa };
        });
        for (const p of placed) {
          expect(lookup(mem, t.root, 4, p.iova + BigInt(p.offset), 'fs')).toEqual([p.gpa + BigInt(p.offset), p.size]);
        }
        placed.forEach((p, i) => i % 2 === 0 && expect(t.unmap(p.iova)).toBe(p.size));
        placed.forEach((p, i) =>
          expect(lookup(mem, t.root, 4, p.iova, 'fs')).toEqual(i % 2 === 0 ? undefined : [p.gpa, p.size]),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('rejects non-canonical IOVAs, unaligned IOVA/GPA, GPAs beyond 51 bits and odd sizes', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    throwsEncode(() => t.map(0x0000_8000_0000_0000n, 0n), /iova must be canonical for 4-level paging \(bits 63:47 all equal\)/);
    throwsEncode(() => t.map(0xffff_0000_0000_0000n, 0n), /iova must be canonical/);
    throwsEncode(() => t.map(0x1000n, 0x1234n), /gpa must be 4 KiB aligned/);
    throwsEncode(() => t.map(0x1000n, 0n, { size: PAGE_2M }), /iova must be 2 MiB aligned/);
    throwsEncode(() => t.map(0n, 0x1000n, { size: PAGE_1G }), /gpa must be 1 GiB aligned/);
    throwsEncode(() => t.map(0x1000n, 1n << 52n), /gpa must be below 2\^52/);
    throwsEncode(() => t.map(0n, 0n, { size: 8192 }), /size must be a power-of-two page size 4096, 2 MiB or 1 GiB/);
    throwsEncode(() => t.map(0n, 0n, { raw: -1n }), /raw must be a bigint/);
    const t5 = new FirstStageTable(mem, alloc, { levels: 5 });
    t5.map(0x00ff_ffff_ffff_f000n, 0n);
    throwsEncode(() => t5.map(0x0100_0000_0000_0000n, 0n), /canonical for 5-level paging \(bits 63:56/);
    expect(alloc.used).toBe(2 + 4); // two roots + the 5-level table's mapping; failed maps allocated nothing
  });

  it('rejects mapping over an existing mapping of another size', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    t.map(0x20_0000n, 0n, { size: PAGE_2M });
    throwsEncode(() => t.map(0x20_1000n, 0n), /iova 0x201000 is inside a 2 MiB page mapped at level 2/);
    t.map(0x40_0000n, 0n);
    throwsEncode(() => t.map(0x40_0000n, 0n, { size: PAGE_2M }), /a level-2 table of smaller pages is already there/);
    throwsEncode(() => t.map(0n, 0n, { size: PAGE_1G }), /a level-3 table of smaller pages is already there/);
  });

  it('rejects unmapping from the middle of a large page, bad levels, and entries with no table', () => {
    const { mem, alloc } = setup();
    const t = new FirstStageTable(mem, alloc);
    t.map(0x20_0000n, 0n, { size: PAGE_2M });
    throwsEncode(() => t.unmap(0x20_1000n), /iova \(inside a 2 MiB page\) must be 2 MiB aligned/);
    throwsEncode(() => t.entryAddress(0x20_0000n, 5), /level must be in \[1, 4\]/);
    throwsEncode(() => t.entryAddress(0x20_0000n, 1), /inside a 2 MiB page mapped at level 2/);
    throwsEncode(() => t.entryAddress(0x8000_0000n, 2), /has no level-2 table: its level-3 entry is not present/);
    throwsEncode(() => new FirstStageTable(mem, alloc, { levels: 3 as 4 }), /levels must be 4 or 5/);
  });
});

describe('SecondStageTable', () => {
  it('AW gives the levels: 1 → 3, 2 → 4 (default), 3 → 5', () => {
    const { mem, alloc } = setup();
    expect([1, 2, 3].map((aw) => new SecondStageTable(mem, alloc, { aw: aw as 1 }).levels)).toEqual([3, 4, 5]);
    const t = new SecondStageTable(mem, alloc);
    expect([t.levels, t.aw]).toEqual([4, 2]);
    expect(new SecondStageTable(mem, alloc, { levels: 5 }).aw).toBe(3);
  });

  it('non-leaf entries are R|W|X so the leaf decides; leaves get R (bit 0), W (bit 1), X (bit 2)', () => {
    const { mem, alloc } = setup();
    const t = new SecondStageTable(mem, alloc, { aw: 1 });
    const at = t.map(0x7f_ffff_f000n, 0x1_0000_0000n);
    for (const l of [3, 2]) expect(mem.readU64(t.entryAddress(0x7f_ffff_f000n, l)) & 0xfffn).toBe(0b111n);
    expect(mem.readU64(at)).toBe(0x1_0000_0000n | SsPte.R | SsPte.W);
    expect(mem.readU64(t.map(0x1000n, 0n, { write: false, exec: true }))).toBe(SsPte.R | SsPte.X);
    expect(mem.readU64(t.map(0x2000n, 0n, { read: false }))).toBe(SsPte.W);
    expect(mem.readU64(t.map(0x3000n, 0n, { raw: SsPte.SNP }))).toBe(SsPte.SNP | 0b11n);
  });

  it('a 2 MiB leaf at level 2 and a 1 GiB leaf at level 3 (the top of a 3-level table) have PS', () => {
    const { mem, alloc } = setup();
    const t = new SecondStageTable(mem, alloc, { aw: 1 });
    const a1 = t.map(0x40_0000_0000n - 0x4000_0000n, 0xc000_0000n, { size: PAGE_1G });
    expect(a1).toBe(t.root + 255n * 8n);
    expect(mem.readU64(a1)).toBe(0xc000_0000n | SsPte.PS | 0b11n);
    const a2 = t.map(0x60_0000n, 0x20_0000n, { size: PAGE_2M });
    expect(mem.readU64(a2)).toBe(0x20_0000n | SsPte.PS | 0b11n);
    expect(lookup(mem, t.root, 3, 0x60_0abcn, 'ss')).toEqual([0x20_0abcn, PAGE_2M]);
  });

  it('nonLeaf overrides the table bits (Linux: R|W without X)', () => {
    const { mem, alloc } = setup();
    const t = new SecondStageTable(mem, alloc, { nonLeaf: { exec: false } });
    t.map(0x1000n, 0n);
    expect(mem.readU64(t.entryAddress(0x1000n, 4)) & 0xfffn).toBe(0b11n);
  });

  it('map/unmap round trip across levels and sizes', () => {
    const { mem, alloc } = setup();
    const t = new SecondStageTable(mem, alloc, { levels: 5 });
    const maps: [bigint, bigint, number][] = [
      [0x00ff_ffff_ffff_f000n, 0x1000n, PAGE_4K],
      [0x0001_0000_0020_0000n, 0x40_0000n, PAGE_2M],
      [0x0000_0040_0000_0000n, 0x8000_0000n, PAGE_1G],
    ];
    for (const [iova, hpa, size] of maps) t.map(iova, hpa, { size });
    for (const [iova, hpa, size] of maps) expect(lookup(mem, t.root, 5, iova + 8n, 'ss')).toEqual([hpa + 8n, size]);
    for (const [iova, , size] of maps) expect(t.unmap(iova)).toBe(size);
    for (const [iova] of maps) expect(lookup(mem, t.root, 5, iova, 'ss')).toBeUndefined();
    expect(t.unmap(0x1000n)).toBe(0);
  });

  it('rejects IOVAs beyond the table width, R = W = 0, unaligned addresses, conflicts and bad AW', () => {
    const { mem, alloc } = setup();
    const t = new SecondStageTable(mem, alloc, { aw: 1 });
    throwsEncode(() => t.map(1n << 39n, 0n), /iova must be below 2\^39 for 3-level paging/);
    throwsEncode(() => t.map(0n, 0n, { read: false, write: false }), /needs read or write: an entry with R = W = 0 is not present/);
    throwsEncode(() => t.map(0n, 0x800n), /hpa must be 4 KiB aligned/);
    throwsEncode(() => t.map(0n, 1n << 52n), /hpa must be below 2\^52/);
    throwsEncode(() => t.map(0x1000n, 0n, { size: PAGE_2M }), /iova must be 2 MiB aligned/);
    throwsEncode(() => t.map(0n, 0n, { size: 3 * PAGE_4K }), /size must be a power-of-two page size/);
    t.map(0n, 0n, { size: PAGE_1G });
    throwsEncode(() => t.map(0x1000n, 0n), /inside a 1 GiB page mapped at level 3/);
    t.map(0x4000_0000n, 0n);
    throwsEncode(() => t.map(0x4000_0000n, 0n, { size: PAGE_1G }), /a level-3 table of smaller pages is already there/);
    throwsEncode(() => t.entryAddress(0x8000_0000n, 1), /has no level-2 table: its level-3 entry is not present/);
    throwsEncode(() => new SecondStageTable(mem, alloc, { aw: 2, levels: 3 }), /must be 1, 2 or 3 and agree with levels 3/);
    throwsEncode(() => new SecondStageTable(mem, alloc, { aw: 4 as 1 }), /levels must be 3, 4 or 5/);
    throwsEncode(() => new SecondStageTable(mem, alloc, { nonLeaf: { read: false, write: false } }), /nonLeaf needs read or write/);
  });
});

describe('GuestBuilder', () => {
  const builder = (mem: GuestMemoryLike = new MapMemory()) => new GuestBuilder(mem, [RAM]);

  it('root() allocates the root table once', () => {
    const b = builder();
    expect(b.root()).toBe(b.root());
    expect(b.alloc.used).toBe(1);
  });

  it('scalableDevice fills the root-entry half, the context entry and a zeroed PASID directory', () => {
    const mem = new MapMemory(0x5an);
    const b = builder(mem);
    const d = b.scalableDevice(0x0118, { pdts: 0 }); // 01:03.0
    const re = readEntry(mem, rootEntryAddress(b.root(), 1), 2);
    expect(re[0]! & 1n).toBe(1n);
    expect(d.contextEntry).toBe((re[0]! & ~0xfffn) + 0x18n * 32n);
    const ce = readEntry(mem, d.contextEntry, 4);
    expect(ce).toEqual([d.pasidDir | (1n << 3n) | 1n, 0n, 0n, 0n]); // PASIDE, PDTS 0, P
    expect(mem.readU64(d.pasidDir + 1016n)).toBe(0n); // 2^7 entries
  });

  it('scalableDevice defaults to PDTS 7 (a 32-page directory for all 2^20 PASIDs) and PASIDE on', () => {
    const b = builder();
    const d = b.scalableDevice(0x0008);
    expect(d.pdts).toBe(7);
    expect(bits(b.mem.readU64(d.contextEntry), 11, 9)).toBe(7n);
    expect(b.alloc.used).toBe(1 + 1 + 32);
    const b2 = builder();
    const off = b2.scalableDevice(0x0008, { paside: false, ridPasid: 5 });
    const ce = readEntry(b2.mem, off.contextEntry, 2);
    expect([bit(ce, 3), bits(ce[1]!, 19, 0)]).toEqual([0n, 5n]);
  });

  it('devices with devfn >= 128 get the upper context table; devices on one half share a table', () => {
    const b = builder();
    const lo1 = b.scalableDevice(0x0010, { pdts: 0 });
    const lo2 = b.scalableDevice(0x0018, { pdts: 0 });
    const hi = b.scalableDevice(0x00fb, { pdts: 0 }); // 00:1f.3
    const re = readEntry(b.mem, b.root(), 2);
    expect(lo1.contextEntry - 0x10n * 32n).toBe(re[0]! & ~0xfffn);
    expect(lo2.contextEntry - 0x18n * 32n).toBe(re[0]! & ~0xfffn);
    expect(hi.contextEntry - (0xfbn - 128n) * 32n).toBe(re[1]! & ~0xfffn);
    expect([re[0]! & 1n, re[1]! & 1n]).toEqual([1n, 1n]);
  });

  it('pasidEntry allocates the PASID table on demand and writes the directory entry', () => {
    const b = builder();
    const d = b.scalableDevice(0x0100);
    const used = b.alloc.used;
    const at = b.pasidEntry(0x0100, 0x12345, { pgtt: 'pass-through', did: 9 });
    expect(b.alloc.used).toBe(used + 1);
    const de = b.mem.readU64(pasidDirEntryAddress(d.pasidDir, 0x12345));
    expect(de & 1n).toBe(1n);
    expect(at).toBe(pasidEntryAddress(de & ~0xfffn, 0x12345));
    expect(readEntry(b.mem, at, 2)).toEqual([(4n << 6n) | 1n, 9n]);
    b.pasidEntry(0x0100, 0x12340, { pgtt: 'pass-through' }); // same directory entry: same table
    expect(b.alloc.used).toBe(used + 1);
  });

  it('builds a device whose PASID 0 translates through a first-stage table', () => {
    const b = builder();
    const sid = 0x00fb;
    b.scalableDevice(sid, { pdts: 2 });
    const fs = b.firstStage();
    fs.map(0x7000_0000n, 0x1_2340_0000n, { size: PAGE_2M });
    b.pasidEntry(sid, 0, { pgtt: 'first-stage', levels: fs.levels, fsptptr: fs.root, did: 1 });
    // Walk it like the IOMMU: root (upper half) → context → PASID dir → PASID entry → FS table.
    const ctp = b.mem.readU64(b.root() + 8n) & ~0xfffn;
    const ce = b.mem.readU64(ctp + (0xfbn - 128n) * 32n);
    const ptp = b.mem.readU64(ce & ~0xfffn) & ~0xfffn;
    const pe = readEntry(b.mem, ptp, 3);
    expect(bits(pe[0]!, 8, 6)).toBe(1n);
    expect(lookup(b.mem, pe[2]! & ~0xfffn, 4, 0x7000_1234n, 'fs')).toEqual([0x1_2340_1234n, PAGE_2M]);
  });

  it('legacyDevice writes a legacy root entry (context table on demand) and the context entry', () => {
    const b = builder();
    const ss = b.secondStage({ aw: 1 });
    const at = b.legacyDevice(0x0310, { ssptptr: ss.root, aw: ss.aw, did: 4 });
    const re = readEntry(b.mem, rootEntryAddress(b.root(), 3), 2);
    expect([re[0]! & 0xfffn, re[1]]).toEqual([1n, 0n]);
    expect(at).toBe((re[0]! & ~0xfffn) + 0x10n * 16n);
    expect(readEntry(b.mem, at, 2)).toEqual([ss.root | 1n, (4n << 8n) | 1n]);
    const at2 = b.legacyDevice(0x0311, { tt: 'pass-through', aw: 2 });
    expect(at2 - at).toBe(16n);
  });

  it('rejects a PASID entry without a scalable device, beyond PDTS, bad sids, and mixing modes', () => {
    const b = builder();
    throwsEncode(() => b.pasidEntry(0x0100, 1, { pgtt: 'first-stage' }), /sid 0x100 has no scalable context entry: call scalableDevice first/);
    b.scalableDevice(0x0100, { pdts: 0 });
    throwsEncode(() => b.pasidEntry(0x0100, 128 * 64, { pgtt: 'first-stage' }), /pasid 0x2000 is beyond the PASID directory of sid 0x100 \(PDTS 0\)/);
    throwsEncode(() => b.pasidEntry(0x0100, 0x100000, { pgtt: 'first-stage' }), /pasid must be an integer in \[0, 0xfffff\]/);
    throwsEncode(() => b.scalableDevice(0x10000), /sid must be an integer in \[0, 0xffff\]/);
    throwsEncode(() => b.legacyDevice(0x0200, {}), /root table is scalable-mode; cannot add a legacy device/);
    const l = builder();
    l.legacyDevice(0x0200, {});
    throwsEncode(() => l.scalableDevice(0x0200), /root table is legacy-mode; cannot add a scalable device/);
  });

  it('accepts an existing allocator', () => {
    const { mem, alloc } = setup();
    expect(new GuestBuilder(mem, alloc).alloc).toBe(alloc);
  });
});
