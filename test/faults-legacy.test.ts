/**
 * Legacy mode (RTADDR.TTM = 00b, docs/semantics.md §9): legacy root entries, 128-bit context
 * entries, TT 00b/01b second-stage walks with the legacy fault codes and TT 10b pass-through.
 * One directed test per fault condition, plus the successful translations. Runs with the
 * tables below and above 4 GiB.
 */
import { describe, expect, it } from 'vitest';
import { SsPte } from '../src/index.js';
import {
  ABOVE_HIGH, bit, bitsHL, expectFault, expectOk, GIB1, HOLE, KIB4, legacyFixture, MIB2, OFF, OUT, PLACEMENTS, SID,
  SS_IOVA, success, type Placement,
} from './support/directed.js';

const repoint = (f: { read(g: bigint): bigint; write(g: bigint, v: bigint): void }, gpa: bigint, ptr: bigint) =>
  f.write(gpa, (f.read(gpa) & 0xfffn) | ptr);
const setField = (f: { read(g: bigint): bigint; write(g: bigint, v: bigint): void }, gpa: bigint, hi: number, lo: number, v: bigint) =>
  f.write(gpa, (f.read(gpa) & ~bitsHL(hi, lo)) | (v << BigInt(lo)));

describe.each(PLACEMENTS)('legacy mode, tables in %s RAM', (tables: Placement) => {
  describe('successful translations', () => {
    it.each([
      [1, KIB4], [1, MIB2], [1, GIB1], [2, KIB4], [2, MIB2], [2, GIB1], [3, KIB4], [3, MIB2], [3, GIB1],
    ] as const)('TT 00b: %i-AW second stage (AW+2 levels), %i-byte page: output, page size, R/W', async (aw, size) => {
      const f = await legacyFixture({ tables, aw, size, caps: { sagaw: 0b1110 } });
      const off = BigInt(size) - 0x10n - OFF; // near the end of the page
      expect(f.tr({ iova: f.iova + off })).toStrictEqual(success(f.out + off, size, 'rw'));
      expect(f.tr({ iova: f.iova + off, write: true })).toStrictEqual(success(f.out + off, size, 'rw'));
    });

    it('TT 00b: a read-only leaf translates reads with write = false', async () => {
      const f = await legacyFixture({ tables, map: { write: false } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'r'));
    });

    it('TT 01b (device-TLB) walks the second stage like TT 00b when caps.dt is set', async () => {
      const f = await legacyFixture({ tables, tt: 'device-tlb', caps: { dt: true } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });

    it('TT 10b pass-through: output = input, 4 KiB, read and write, no execute', async () => {
      const f = await legacyFixture({ tables, tt: 'pass-through' });
      expect(f.tr({ iova: 0xabc_def0_1234n })).toStrictEqual(success(0xabc_def0_1234n, KIB4, 'rw'));
      expect(f.tr({ iova: (1n << 48n) - 1n, write: true })).toStrictEqual(success((1n << 48n) - 1n, KIB4, 'rw'));
    });

    it('execute and privileged flags are ignored for legacy requests (no PASID): a leaf without X translates', async () => {
      const f = await legacyFixture({ tables });
      expect(f.tr({ exec: true, priv: true })).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });

    it('the upper devfns use the same 128-bit context table (devfn * 16)', async () => {
      const sid = (3 << 8) | 0xf8;
      const f = await legacyFixture({ tables, sid });
      expect(f.contextEntry - (f.read(f.rootEntry) & ~0xfffn)).toBe(0xf8n * 16n);
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });
  });

  describe('faults', () => {
    it('0x31 SM_TTM_LEGACY_WITH_PASID: any request with a PASID, checked before the root entry', async () => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      expectFault(f.tr({ pasid: 0 }), 'SM_TTM_LEGACY_WITH_PASID');
      expectFault(f.tr({ pasid: 0xfffff }), 'SM_TTM_LEGACY_WITH_PASID');
      expectFault(f.tr({ sid: 0xffff, pasid: 1 }), 'SM_TTM_LEGACY_WITH_PASID'); // bus 255: no root entry
      f.vtd.setRootTable(HOLE, { scalable: false });
      expectFault(f.tr({ pasid: 1 }), 'SM_TTM_LEGACY_WITH_PASID');
    });

    it('0x8 ROOT_TABLE_INV: the root table is not in RAM', async () => {
      const f = await legacyFixture({ tables });
      f.vtd.setRootTable(HOLE, { scalable: false });
      expectFault(f.tr(), 'ROOT_TABLE_INV');
      f.vtd.setRootTable(ABOVE_HIGH, { scalable: false });
      expectFault(f.tr(), 'ROOT_TABLE_INV');
    });

    it('0x1 ROOT_ENTRY_P: the root entry of the bus is not present', async () => {
      const f = await legacyFixture({ tables });
      expectFault(f.tr({ sid: (4 << 8) | 0x18 }), 'ROOT_ENTRY_P'); // bus 4: never written
      f.clear(f.rootEntry, 1n);
      expectFault(f.tr(), 'ROOT_ENTRY_P');
    });

    it.each([
      ['q0 bit 1 (bits 11:1)', 0, 1], ['q0 bit 11', 0, 11], ['q0 bit 48 (63:HAW)', 0, 48], ['q0 bit 63', 0, 63],
      ['q1 bit 0 (all of q1)', 1, 0], ['q1 bit 63', 1, 63],
    ] as const)('0xA ROOT_ENTRY_RSVD: %s', async (_what, qw, b) => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      f.set(f.rootEntry + BigInt(qw * 8), bit(b));
      expectFault(f.tr(), 'ROOT_ENTRY_RSVD');
    });

    it('0x9 CONTEXT_TABLE_INV: the context-table pointer is not in RAM', async () => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.rootEntry, HOLE);
      expectFault(f.tr(), 'CONTEXT_TABLE_INV');
    });

    it('0x2 CONTEXT_ENTRY_P: the context entry is not present', async () => {
      const f = await legacyFixture({ tables });
      expectFault(f.tr({ sid: SID + 1 }), 'CONTEXT_ENTRY_P'); // another function: never written
      f.clear(f.contextEntry, 1n);
      expectFault(f.tr(), 'CONTEXT_ENTRY_P');
    });

    it.each([
      ['q0 bit 4 (bits 11:4)', 0, 4], ['q0 bit 11', 0, 11], ['q0 bit 48 (63:HAW)', 0, 48], ['q0 bit 63', 0, 63],
      ['q1 bit 7', 1, 7], ['q1 bit 24 (bits 63:24)', 1, 24], ['q1 bit 63', 1, 63],
    ] as const)('0xB CONTEXT_ENTRY_RSVD: %s', async (_what, qw, b) => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      f.set(f.contextEntry + BigInt(qw * 8), bit(b));
      expectFault(f.tr(), 'CONTEXT_ENTRY_RSVD');
    });

    it('0xB is not raised for FPD, the AVAIL bits 6:3 of q1 or any DID', async () => {
      const f = await legacyFixture({ tables });
      f.set(f.contextEntry, bit(1));
      f.set(f.contextEntry + 8n, bitsHL(6, 3) | bitsHL(23, 8));
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });

    it('0x3 CONTEXT_ENTRY_INV: TT 11b', async () => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      setField(f, f.contextEntry, 3, 2, 3n);
      expectFault(f.tr(), 'CONTEXT_ENTRY_INV');
    });

    it('0x3 CONTEXT_ENTRY_INV: TT 01b without caps.dt', async () => {
      const f = await legacyFixture({ tables, tt: 'device-tlb' });
      expectFault(f.tr(), 'CONTEXT_ENTRY_INV');
    });

    it('0x3 CONTEXT_ENTRY_INV: TT 10b without caps.pt', async () => {
      const f = await legacyFixture({ tables, tt: 'pass-through', caps: { pt: false } });
      expectFault(f.tr(), 'CONTEXT_ENTRY_INV');
    });

    it.each([0, 3, 4, 7])('0x3 CONTEXT_ENTRY_INV: AW %i not in SAGAW (0b0110) for TT 00b', async (aw) => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      setField(f, f.contextEntry + 8n, 2, 0, BigInt(aw));
      expectFault(f.tr(), 'CONTEXT_ENTRY_INV');
    });

    it('0x3 CONTEXT_ENTRY_INV: AW not in SAGAW for TT 01b', async () => {
      const f = await legacyFixture({ tables, tt: 'device-tlb', caps: { dt: true }, aw: 1 });
      expectOk(f.tr());
      const g = await legacyFixture({ tables, tt: 'device-tlb', caps: { dt: true, sagaw: 0b0100 }, aw: 1 });
      expectFault(g.tr(), 'CONTEXT_ENTRY_INV');
    });

    it('0x3 is not raised for AW with pass-through (AW is not checked)', async () => {
      const f = await legacyFixture({ tables, tt: 'pass-through', context: { aw: 0 } });
      expectOk(f.tr());
    });

    it('0x4 ADDR_BEYOND_MGAW: input beyond the AW width (AW 1: 2^39) or caps.mgaw (40)', async () => {
      const f = await legacyFixture({ tables, aw: 1 });
      expectOk(f.tr());
      expectFault(f.tr({ iova: 1n << 39n }), 'ADDR_BEYOND_MGAW');
      const g = await legacyFixture({ tables, caps: { mgaw: 40 } });
      expectFault(g.tr({ iova: 1n << 40n }), 'ADDR_BEYOND_MGAW');
      expectFault(g.tr({ iova: (1n << 40n) - 1n }), 'READ', 4); // in range: nothing mapped
    });

    it('0x4 ADDR_BEYOND_MGAW: pass-through input with bits 63:HAW set', async () => {
      const f = await legacyFixture({ tables, tt: 'pass-through' });
      expectFault(f.tr({ iova: 1n << 48n }), 'ADDR_BEYOND_MGAW');
      expectFault(f.tr({ iova: 1n << 63n }), 'ADDR_BEYOND_MGAW');
    });

    it.each([[1, 3], [2, 4], [3, 5]] as const)('0x7 PAGING_ENTRY_INV: SSPTPTR not in RAM (AW %i: level %i)', async (aw, top) => {
      const f = await legacyFixture({ tables, aw, caps: { sagaw: 0b1110 } });
      expectOk(f.tr());
      repoint(f, f.contextEntry, HOLE);
      expectFault(f.tr(), 'PAGING_ENTRY_INV', top);
    });

    it.each([4, 3, 2])('0x7 PAGING_ENTRY_INV: the level-%i entry points outside RAM (fault at the level below)', async (l) => {
      const f = await legacyFixture({ tables });
      repoint(f, f.entry(l), ABOVE_HIGH);
      expectFault(f.tr(), 'PAGING_ENTRY_INV', l - 1);
    });

    it.each([4, 3, 2, 1])('0xC PAGING_ENTRY_RSVD: address bit 48 (bits 51:HAW) in the level-%i entry', async (l) => {
      const f = await legacyFixture({ tables });
      expectOk(f.tr());
      f.set(f.entry(l), bit(48));
      expectFault(f.tr(), 'PAGING_ENTRY_RSVD', l);
    });

    it('0xC PAGING_ENTRY_RSVD: TM (bit 62) without caps.dt, PS at level 4', async () => {
      const f = await legacyFixture({ tables, map: { raw: SsPte.TM } });
      expectFault(f.tr(), 'PAGING_ENTRY_RSVD', 1);
      const g = await legacyFixture({ tables, tt: 'device-tlb', map: { raw: SsPte.TM }, caps: { dt: true } });
      expectOk(g.tr());
      const h = await legacyFixture({ tables });
      h.set(h.entry(4), SsPte.PS);
      expectFault(h.tr(), 'PAGING_ENTRY_RSVD', 4);
    });

    it('0xC PAGING_ENTRY_RSVD: large pages without SSLPS, and the reserved bits of 2 MiB / 1 GiB leaves', async () => {
      const f = await legacyFixture({ tables, size: MIB2, caps: { sslps: 0 } });
      expectFault(f.tr(), 'PAGING_ENTRY_RSVD', 2);
      const g = await legacyFixture({ tables, size: GIB1, caps: { sslps: 1 } });
      expectFault(g.tr(), 'PAGING_ENTRY_RSVD', 3);
      const h = await legacyFixture({ tables, size: MIB2, map: { raw: bit(20) } });
      expectFault(h.tr(), 'PAGING_ENTRY_RSVD', 2);
      const k = await legacyFixture({ tables, size: GIB1, map: { raw: bit(12) } });
      expectFault(k.tr(), 'PAGING_ENTRY_RSVD', 3);
    });

    it('0x6 READ: a read of a not-present entry or a write-only leaf', async () => {
      const f = await legacyFixture({ tables });
      f.write(f.entry(2), 0n);
      expectFault(f.tr(), 'READ', 2);
      const g = await legacyFixture({ tables, map: { read: false } });
      expect(g.tr({ write: true })).toStrictEqual(success(g.out + OFF, KIB4, 'w'));
      expectFault(g.tr(), 'READ', 1);
    });

    it('0x5 WRITE: a write to a not-present entry or a read-only leaf', async () => {
      const f = await legacyFixture({ tables });
      f.write(f.entry(1), 0n);
      expectFault(f.tr({ write: true }), 'WRITE', 1);
      const g = await legacyFixture({ tables, map: { write: false } });
      expectFault(g.tr({ write: true }), 'WRITE', 1);
      const h = await legacyFixture({ tables, nonLeaf: { write: false } });
      expectFault(h.tr({ write: true }), 'WRITE', 1);
    });

    it('0xE INTERRUPT_ADDR: a second-stage or pass-through output in 0xFEE00000-0xFEEFFFFF', async () => {
      const f = await legacyFixture({ tables, out: 0xfee0_0000n });
      expectFault(f.tr(), 'INTERRUPT_ADDR');
      const g = await legacyFixture({ tables, tt: 'pass-through' });
      expectFault(g.tr({ iova: 0xfee0_1000n }), 'INTERRUPT_ADDR');
      expectOk(g.tr({ iova: 0xfef0_0000n }));
    });

    it('an output address is not read: a leaf pointing outside RAM translates', async () => {
      const f = await legacyFixture({ tables, iova: SS_IOVA[KIB4]!, out: OUT[KIB4]! });
      repoint(f, f.entry(1), HOLE);
      expect(f.tr()).toStrictEqual(success(HOLE + OFF, KIB4, 'rw'));
    });
  });
});
