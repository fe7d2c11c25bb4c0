/**
 * Directed tests, one per fault condition of scalable-mode translation (docs/semantics.md
 * §1-§8). Each builds a correct configuration with the guest encoders, checks that it
 * translates, breaks exactly one thing and asserts the exact fault, `level` included where
 * the contract gives one and absent otherwise. Everything runs twice: with the guest's tables
 * in RAM below 4 GiB and in the RAM region above 4 GiB. "Outside RAM" is the hole between the
 * two regions (HOLE) or the page after the high region.
 */
import { describe, expect, it } from 'vitest';
import { FsPte, SsPte } from '../src/index.js';
import {
  ABOVE_HIGH, bit, bitsHL, expectFault, expectOk, fsFixture, GIB1, HIGH, HOLE, KIB4, LOW, MIB2, nestedFixture,
  OFF, PASID, PLACEMENTS, ptFixture, SID, SID_UPPER, ssFixture, success, type Placement,
} from './support/directed.js';

const PTR = ~0xfffn & ((1n << 64n) - 1n);
/** Replace the pointer field (bits 63:12) of the qword at gpa, keeping bits 11:0. */
const repoint = (f: { read(g: bigint): bigint; write(g: bigint, v: bigint): void }, gpa: bigint, ptr: bigint) =>
  f.write(gpa, (f.read(gpa) & 0xfffn) | ptr);
/** PASID-entry qword n. */
const q = (entry: bigint, n: number) => entry + BigInt(n * 8);
/** Replace bits hi..lo of the qword at gpa with v. */
const setField = (f: { read(g: bigint): bigint; write(g: bigint, v: bigint): void }, gpa: bigint, hi: number, lo: number, v: bigint) =>
  f.write(gpa, (f.read(gpa) & ~bitsHL(hi, lo)) | (v << BigInt(lo)));

describe.each(PLACEMENTS)('scalable-mode faults, tables in %s RAM', (tables: Placement) => {
  // -------------------------------------------------------------------------------------
  describe('§1 root entry', () => {
    it('0x38 SM_ROOT_ENTRY_ACCESS: the root table (RTADDR) is not in RAM', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.vtd.setRootTable(HOLE);
      expectFault(f.tr(), 'SM_ROOT_ENTRY_ACCESS');
      f.vtd.setRootTable(ABOVE_HIGH);
      expectFault(f.tr(), 'SM_ROOT_ENTRY_ACCESS');
    });

    it('0x39 SM_ROOT_ENTRY_P: the root-entry half for the devfn is not present (lower half, LP, for devfn < 128)', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.clear(f.rootHalf, 1n);
      expectFault(f.tr(), 'SM_ROOT_ENTRY_P');
    });

    it('0x39 SM_ROOT_ENTRY_P: the upper half (UP) for devfn >= 128 is not present, though the lower half is', async () => {
      const f = await fsFixture({ tables, sid: SID_UPPER });
      f.guest.scalableDevice(SID); // lower half present too (same bus)
      f.invalidate();
      expectOk(f.tr());
      expect(f.read(f.rootHalf - 8n) & 1n).toBe(1n);
      f.clear(f.rootHalf, 1n);
      expectFault(f.tr(), 'SM_ROOT_ENTRY_P');
    });

    it('0x39 SM_ROOT_ENTRY_P: a devfn < 128 request when only the upper half is present', async () => {
      const f = await fsFixture({ tables, sid: SID_UPPER });
      expectOk(f.tr());
      expectFault(f.tr({ sid: SID }), 'SM_ROOT_ENTRY_P');
    });

    it('devfn >= 128 uses only the upper half: a non-present lower half with reserved bits set does not matter', async () => {
      const f = await fsFixture({ tables, sid: SID_UPPER });
      f.write(f.rootHalf - 8n, bitsHL(11, 1) | bit(63)); // LP clear, reserved bits set
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });

    const rootRsvd = [1, 5, 11, 48, 51, 63];
    it.each(rootRsvd)('0x3A SM_ROOT_ENTRY_RSVD: bit %i of the lower half (bits 11:1, CTP bits 63:HAW=48)', async (b) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.set(f.rootHalf, bit(b));
      expectFault(f.tr(), 'SM_ROOT_ENTRY_RSVD');
    });

    it.each(rootRsvd)('0x3A SM_ROOT_ENTRY_RSVD: bit %i of the upper half for devfn >= 128', async (b) => {
      const f = await fsFixture({ tables, sid: SID_UPPER });
      expectOk(f.tr());
      f.set(f.rootHalf, bit(b));
      expectFault(f.tr(), 'SM_ROOT_ENTRY_RSVD');
    });

    it('0x3A is checked on the half in use only: reserved bits in the other half are ignored', async () => {
      const f = await fsFixture({ tables });
      f.set(f.rootHalf + 8n, bitsHL(11, 1) | bit(60));
      expectOk(f.tr());
      const g = await fsFixture({ tables, sid: SID_UPPER });
      g.write(g.rootHalf - 8n, bitsHL(11, 1) | bit(60) | 1n);
      expectOk(g.tr());
    });

    it('0x3A follows caps.haw: with HAW 36 CTP bit 36 is reserved; with HAW 52 CTP bit 48 is an address (0x40, not RAM)', async () => {
      const f = await fsFixture({ tables, caps: { haw: 36 } });
      expectOk(f.tr());
      f.set(f.rootHalf, bit(36));
      expectFault(f.tr(), 'SM_ROOT_ENTRY_RSVD');
      const g = await fsFixture({ tables, caps: { haw: 52 } });
      expectOk(g.tr());
      g.set(g.rootHalf, bit(48));
      expectFault(g.tr(), 'SM_CONTEXT_ENTRY_ACCESS');
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§2 context entry', () => {
    it('0x40 SM_CONTEXT_ENTRY_ACCESS: the context-table pointer of the root entry is not in RAM', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.rootHalf, HOLE);
      expectFault(f.tr(), 'SM_CONTEXT_ENTRY_ACCESS');
    });

    it('0x40 SM_CONTEXT_ENTRY_ACCESS: the upper context table (devfn >= 128) is not in RAM', async () => {
      const f = await fsFixture({ tables, sid: SID_UPPER });
      expectOk(f.tr());
      repoint(f, f.rootHalf, ABOVE_HIGH);
      expectFault(f.tr(), 'SM_CONTEXT_ENTRY_ACCESS');
    });

    it('0x41 SM_CONTEXT_ENTRY_P: the context entry is not present', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.clear(f.dev.contextEntry, 1n);
      expectFault(f.tr(), 'SM_CONTEXT_ENTRY_P');
    });

    it.each([
      ['bit 5 (bits 8:5)', 0, 5], ['bit 8 (bits 8:5)', 0, 8], ['PASIDDIRPTR bit 48 (63:HAW)', 0, 48],
      ['PASIDDIRPTR bit 63', 0, 63], ['bit 85 (127:85)', 1, 21], ['bit 127', 1, 63], ['bit 128 (255:128)', 2, 0],
      ['bit 200', 3, 8], ['bit 255', 3, 63],
    ] as const)('0x42 SM_CONTEXT_ENTRY_RSVD: %s', async (_what, qw, b) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.set(q(f.dev.contextEntry, qw), bit(b));
      expectFault(f.tr(), 'SM_CONTEXT_ENTRY_RSVD');
    });

    it('0x42 is not raised for defined fields: FPD, DTE, PRE, and RID_PASID/RID_PRIV (ignored without caps.rps)', async () => {
      const f = await fsFixture({ tables });
      f.set(f.dev.contextEntry, bit(1) | bit(2) | bit(4));
      f.set(q(f.dev.contextEntry, 1), bitsHL(20, 0));
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });

    it('0x45 SM_CONTEXT_PASIDE: a request with PASID when PASIDE is clear (a request without PASID still works)', async () => {
      const f = await fsFixture({ tables, withPasid: false, device: { paside: false } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
      expectFault(f.tr({ pasid: 0 }), 'SM_CONTEXT_PASIDE');
      expectFault(f.tr({ pasid: 0x123 }), 'SM_CONTEXT_PASIDE');
    });

    it('0x46 SM_PASID_BEYOND_PDTS: pasid >> 6 >= 2^(PDTS+7) (PDTS 0: PASIDs 0..0x1fff)', async () => {
      const f = await fsFixture({ tables, pasid: 5, device: { pdts: 0 } });
      expectOk(f.tr());
      expectFault(f.tr({ pasid: 0x1fff }), 'SM_PASID_DIR_ENTRY_P'); // last PASID of the directory: passes PDTS
      expectFault(f.tr({ pasid: 0x2000 }), 'SM_PASID_BEYOND_PDTS');
      expectFault(f.tr({ pasid: 0xfffff }), 'SM_PASID_BEYOND_PDTS');
    });

    it('0x46 SM_PASID_BEYOND_PDTS: PDTS 3 allows PASIDs below 2^16', async () => {
      const f = await fsFixture({ tables, pasid: 5, device: { pdts: 3 } });
      expectOk(f.tr());
      expectFault(f.tr({ pasid: 0xffff }), 'SM_PASID_DIR_ENTRY_P');
      expectFault(f.tr({ pasid: 0x10000 }), 'SM_PASID_BEYOND_PDTS');
    });

    it('0x48 SM_RID_PASID_ERR: with caps.rps, a request without PASID whose RID_PASID >> 6 >= 2^(PDTS+7)', async () => {
      const f = await fsFixture({ tables, caps: { rps: true }, pasid: 5, device: { pdts: 0, ridPasid: 5 } });
      expectOk(f.tr({ pasid: undefined }));
      setField(f, q(f.dev.contextEntry, 1), 19, 0, 0x2000n);
      expectFault(f.tr({ pasid: undefined }), 'SM_RID_PASID_ERR');
      expectFault(f.tr({ pasid: 0x2000 }), 'SM_PASID_BEYOND_PDTS'); // with PASID: 0x46, not 0x48
    });

    it('0x48 is not raised without caps.rps: the same context entry sends requests without PASID to PASID 0', async () => {
      const f = await fsFixture({ tables, withPasid: false, device: { pdts: 0, ridPasid: 0x2000 } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§3 PASID directory entry', () => {
    it('0x50 SM_PASID_DIR_ACCESS: PASIDDIRPTR is not in RAM', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.dev.contextEntry, HOLE);
      expectFault(f.tr(), 'SM_PASID_DIR_ACCESS');
    });

    it('0x50 SM_PASID_DIR_ACCESS: a directory in the last page of its region, entry index beyond that page', async () => {
      const f = await fsFixture({ tables });
      const region = tables === 'high' ? HIGH : LOW;
      repoint(f, f.dev.contextEntry, region.base + region.size - 4096n);
      expectFault(f.tr({ pasid: 511 << 6 }), 'SM_PASID_DIR_ENTRY_P'); // entry 511: last qword of the page (zero)
      expectFault(f.tr({ pasid: 512 << 6 }), 'SM_PASID_DIR_ACCESS'); // entry 512: first byte after the region
    });

    it('0x51 SM_PASID_DIR_ENTRY_P: the directory entry is not present', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      expectFault(f.tr({ pasid: PASID + 64 }), 'SM_PASID_DIR_ENTRY_P'); // another group of 64: never written
      f.clear(f.dirEntry, 1n);
      expectFault(f.tr(), 'SM_PASID_DIR_ENTRY_P');
    });

    it.each([2, 7, 11, 48, 52, 63])('0x52 SM_PASID_DIR_ENTRY_RSVD: bit %i (bits 11:2, 63:HAW=48)', async (b) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.set(f.dirEntry, bit(b));
      expectFault(f.tr(), 'SM_PASID_DIR_ENTRY_RSVD');
    });

    it('0x52 is not raised for FPD (bit 1)', async () => {
      const f = await fsFixture({ tables });
      f.set(f.dirEntry, bit(1));
      expectOk(f.tr());
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§4 PASID table entry', () => {
    it('0x58 SM_PASID_ENTRY_ACCESS: the PASID-table pointer is not in RAM', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.dirEntry, HOLE);
      expectFault(f.tr(), 'SM_PASID_ENTRY_ACCESS');
    });

    it('0x59 SM_PASID_ENTRY_P: the PASID entry is not present', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.clear(f.pasidEntry, 1n);
      expectFault(f.tr(), 'SM_PASID_ENTRY_P');
    });

    it('0x59 SM_PASID_ENTRY_P: present is checked first: an all-zero entry is 0x59 (QEMU: 0x5B)', async () => {
      const f = await fsFixture({ tables });
      for (let i = 0; i < 8; i++) f.write(q(f.pasidEntry, i), 0n);
      expectFault(f.tr(), 'SM_PASID_ENTRY_P');
    });

    it('0x59 SM_PASID_ENTRY_P: P clear wins over reserved bits and an invalid PGTT', async () => {
      const f = await fsFixture({ tables });
      f.write(q(f.pasidEntry, 0), bitsHL(11, 10) | (7n << 6n) | bit(63));
      f.set(q(f.pasidEntry, 2), bitsHL(11, 8) | (3n << 2n));
      expectFault(f.tr(), 'SM_PASID_ENTRY_P');
    });

    it.each([
      ['q0 bit 10 (bits 11:10)', 0, 10], ['q0 bit 11', 0, 11], ['q1 bit 16 (bits 22:16)', 1, 16], ['q1 bit 22', 1, 22],
      ['q2 bit 8 (bits 11:8)', 2, 8], ['q2 bit 11', 2, 11],
    ] as const)('0x5A SM_PASID_ENTRY_RSVD: %s', async (_what, qw, b) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.set(q(f.pasidEntry, qw), bit(b));
      expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
    });

    it('0x5A SM_PASID_ENTRY_RSVD: first-stage checks FSPTPTR bits 63:HAW, not SSPTPTR', async () => {
      for (const b of [48, 55, 63]) {
        const f = await fsFixture({ tables });
        f.set(q(f.pasidEntry, 2), bit(b));
        expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
      }
      const g = await fsFixture({ tables });
      g.set(q(g.pasidEntry, 0), bit(48) | bit(63)); // SSPTPTR: unused by PGTT first-stage
      expect(g.tr()).toStrictEqual(success(g.out + OFF, KIB4, 'rwx'));
    });

    it('0x5A SM_PASID_ENTRY_RSVD: second-stage checks SSPTPTR bits 63:HAW, not FSPTPTR', async () => {
      for (const b of [48, 55, 63]) {
        const f = await ssFixture({ tables });
        f.set(q(f.pasidEntry, 0), bit(b));
        expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
      }
      const g = await ssFixture({ tables });
      g.set(q(g.pasidEntry, 2), bit(48) | bit(63)); // FSPTPTR: unused by PGTT second-stage
      expect(g.tr()).toStrictEqual(success(g.out + OFF, KIB4, 'rw'));
    });

    it('0x5A SM_PASID_ENTRY_RSVD: nested checks both SSPTPTR and FSPTPTR bits 63:HAW', async () => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      f.set(q(f.pasidEntry, 0), bit(48));
      expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
      const g = await nestedFixture({ tables });
      g.set(q(g.pasidEntry, 2), bit(63));
      expectFault(g.tr(), 'SM_PASID_ENTRY_RSVD');
    });

    it('0x5A: pass-through uses neither pointer, so their high bits are not reserved', async () => {
      const f = await ptFixture({ tables });
      f.set(q(f.pasidEntry, 0), bit(48) | bit(63));
      f.set(q(f.pasidEntry, 2), bit(48) | bit(63));
      expect(f.tr()).toStrictEqual(success(f.iova + OFF, KIB4, 'rwx'));
    });

    it('0x5A follows caps.haw: HAW 40 makes FSPTPTR bit 40 reserved; HAW 52 makes bit 48 an address (0x73, not RAM)', async () => {
      const f = await fsFixture({ tables, caps: { haw: 40 } });
      expectOk(f.tr());
      f.set(q(f.pasidEntry, 2), bit(40));
      expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
      const g = await fsFixture({ tables, caps: { haw: 52 } });
      g.set(q(g.pasidEntry, 2), bit(48));
      expectFault(g.tr(), 'FS_FSPTPTR_ACCESS', 4);
    });

    it('0x5A is checked before 0x5B: a reserved bit with PGTT 000b is 0x5A', async () => {
      const f = await fsFixture({ tables });
      setField(f, q(f.pasidEntry, 0), 8, 6, 0n);
      f.set(q(f.pasidEntry, 0), bit(10));
      expectFault(f.tr(), 'SM_PASID_ENTRY_RSVD');
    });

    it('0x5A is not raised for defined fields: SSADE, PWSNP, PGSNP, CD, EMTE, EMT, PWT, PCD, PAT, NXE, SMEP, q3..q7', async () => {
      const f = await fsFixture({ tables, entry: { nxe: true, smep: true } });
      f.set(q(f.pasidEntry, 0), bit(9)); // SSADE
      f.set(q(f.pasidEntry, 1), bitsHL(63, 23)); // PWSNP 23, PGSNP 24, CD 25, EMTE 26, EMT 29:27, PWT 30, PCD 31, PAT 63:32
      for (let i = 3; i < 8; i++) f.write(q(f.pasidEntry, i), (1n << 64n) - 1n); // HPT/HLAT and later: ignored
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });

    it.each([0, 5, 6, 7])('0x5B SM_PASID_ENTRY_INV: PGTT %i is a reserved value', async (pgtt) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      setField(f, q(f.pasidEntry, 0), 8, 6, BigInt(pgtt));
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B SM_PASID_ENTRY_INV: PGTT first-stage without caps.fsts', async () => {
      const f = await fsFixture({ tables, caps: { fsts: false } });
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B SM_PASID_ENTRY_INV: PGTT second-stage without caps.ssts', async () => {
      const f = await ssFixture({ tables, caps: { ssts: false } });
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B SM_PASID_ENTRY_INV: PGTT nested without caps.nest', async () => {
      const f = await nestedFixture({ tables, caps: { nest: false } });
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B SM_PASID_ENTRY_INV: PGTT pass-through without caps.pt', async () => {
      const f = await ptFixture({ tables, caps: { pt: false } });
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it.each([0, 3, 4, 7])('0x5B SM_PASID_ENTRY_INV: second-stage AW %i is not in SAGAW (0b0110)', async (aw) => {
      const f = await ssFixture({ tables });
      expectOk(f.tr());
      setField(f, q(f.pasidEntry, 0), 4, 2, BigInt(aw));
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B SM_PASID_ENTRY_INV: AW 1 (3-level) when SAGAW advertises only 4-level', async () => {
      const f = await ssFixture({ tables, aw: 1, caps: { sagaw: 0b0100 } });
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
      const g = await ssFixture({ tables, aw: 1, caps: { sagaw: 0b0010 } });
      expectOk(g.tr());
    });

    it('0x5B SM_PASID_ENTRY_INV: nested AW not in SAGAW', async () => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      setField(f, q(f.pasidEntry, 0), 4, 2, 3n);
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B is not raised for AW with first-stage or pass-through (AW is not used)', async () => {
      const f = await fsFixture({ tables, entry: { aw: 7 } });
      expectOk(f.tr());
      const g = await ptFixture({ tables, entry: { aw: 0 } });
      expectOk(g.tr());
    });

    it('0x5B SM_PASID_ENTRY_INV: FSPM 01b (5-level) without caps.fs5lp', async () => {
      const f = await fsFixture({ tables, caps: { fs5lp: false } });
      expectOk(f.tr());
      setField(f, q(f.pasidEntry, 2), 3, 2, 1n);
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
    });

    it.each([2, 3])('0x5B SM_PASID_ENTRY_INV: FSPM %i (10b/11b) for first-stage and nested', async (fspm) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      setField(f, q(f.pasidEntry, 2), 3, 2, BigInt(fspm));
      expectFault(f.tr(), 'SM_PASID_ENTRY_INV');
      const g = await nestedFixture({ tables });
      expectOk(g.tr());
      setField(g, q(g.pasidEntry, 2), 3, 2, BigInt(fspm));
      expectFault(g.tr(), 'SM_PASID_ENTRY_INV');
    });

    it('0x5B is not raised for FSPM with second-stage (FSPM is not used)', async () => {
      const f = await ssFixture({ tables, entry: { fspm: 3 } });
      expectOk(f.tr());
    });

    it('0x5D SM_PASID_ENTRY_SRE: a privileged request with SRE clear (first-stage)', async () => {
      const f = await fsFixture({ tables, entry: { sre: false } });
      expectOk(f.tr());
      expectFault(f.tr({ priv: true }), 'SM_PASID_ENTRY_SRE');
      expectFault(f.tr({ priv: true, write: true }), 'SM_PASID_ENTRY_SRE');
    });

    it('0x5D SM_PASID_ENTRY_SRE: without caps.srs a privileged request is treated as SRE clear', async () => {
      const f = await fsFixture({ tables, caps: { srs: false } }); // SRE set in the entry
      expectOk(f.tr());
      expectFault(f.tr({ priv: true }), 'SM_PASID_ENTRY_SRE');
    });

    it('0x5C SM_PASID_ENTRY_ERE: an execute request with ERE clear (first-stage)', async () => {
      const f = await fsFixture({ tables, entry: { ere: false } });
      expectOk(f.tr());
      expectFault(f.tr({ exec: true }), 'SM_PASID_ENTRY_ERE');
    });

    it('0x5C SM_PASID_ENTRY_ERE: without caps.ers an execute request is treated as ERE clear', async () => {
      const f = await fsFixture({ tables, caps: { ers: false } }); // ERE set in the entry
      expectOk(f.tr());
      expectFault(f.tr({ exec: true }), 'SM_PASID_ENTRY_ERE');
    });

    it('0x5D is checked before 0x5C; 0x5C is raised once SRE allows the privileged request', async () => {
      const f = await fsFixture({ tables, entry: { sre: false, ere: false } });
      expectFault(f.tr({ priv: true, exec: true }), 'SM_PASID_ENTRY_SRE');
      const g = await fsFixture({ tables, entry: { sre: true, ere: false } });
      expectFault(g.tr({ priv: true, exec: true }), 'SM_PASID_ENTRY_ERE');
    });

    it('0x5D and 0x5C for nested', async () => {
      const f = await nestedFixture({ tables, entry: { sre: false, ere: false } });
      expectOk(f.tr());
      expectFault(f.tr({ priv: true }), 'SM_PASID_ENTRY_SRE');
      expectFault(f.tr({ exec: true }), 'SM_PASID_ENTRY_ERE');
    });

    it('0x5D and 0x5C are not raised for second-stage or pass-through (SRE/ERE only gate first-stage and nested)', async () => {
      const f = await ssFixture({ tables, map: { exec: true } }); // SRE, ERE clear
      expect(f.tr({ priv: true, exec: true })).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
      const g = await ptFixture({ tables });
      expect(g.tr({ priv: true, exec: true })).toStrictEqual(success(g.iova + OFF, KIB4, 'rwx'));
    });

    it('0x5B is checked before 0x5D', async () => {
      const f = await fsFixture({ tables, entry: { sre: false } });
      setField(f, q(f.pasidEntry, 2), 3, 2, 2n);
      expectFault(f.tr({ priv: true }), 'SM_PASID_ENTRY_INV');
    });

    it('0x83 SM_ADDR_BEYOND_MAX: pass-through input with bits 63:HAW set', async () => {
      const f = await ptFixture({ tables });
      expect(f.tr({ iova: (1n << 48n) - 1n })).toStrictEqual(success((1n << 48n) - 1n, KIB4, 'rwx'));
      expectFault(f.tr({ iova: 1n << 48n }), 'SM_ADDR_BEYOND_MAX');
      expectFault(f.tr({ iova: 1n << 63n }), 'SM_ADDR_BEYOND_MAX');
      const g = await ptFixture({ tables, caps: { haw: 39 } });
      expectOk(g.tr({ iova: (1n << 39n) - 1n }));
      expectFault(g.tr({ iova: 1n << 39n }), 'SM_ADDR_BEYOND_MAX');
    });

    it('0x87 SM_INTERRUPT_ADDR: pass-through output in 0xFEE00000-0xFEEFFFFF', async () => {
      const f = await ptFixture({ tables });
      expectFault(f.tr({ iova: 0xfee0_0000n }), 'SM_INTERRUPT_ADDR');
      expectFault(f.tr({ iova: 0xfeef_ffffn }), 'SM_INTERRUPT_ADDR');
      expectOk(f.tr({ iova: 0xfedf_ffffn }));
      expectOk(f.tr({ iova: 0xfef0_0000n }));
      expectOk(f.tr({ iova: 0x1_fee0_0000n }));
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§5 first-stage walk', () => {
    it('0x80 FS_NON_CANONICAL: 4-level, bits 63:47 not all equal to bit 47', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      for (const iova of [1n << 47n, 0xffff_0000_0000_0000n, 1n << 48n, 1n << 63n, 0xfffe_8000_0000_0000n]) {
        expectFault(f.tr({ iova }), 'FS_NON_CANONICAL');
      }
    });

    it('0x80 FS_NON_CANONICAL: 5-level, bits 63:56 not all equal to bit 56', async () => {
      const f = await fsFixture({ tables, levels: 5 });
      expectOk(f.tr());
      for (const iova of [1n << 56n, 0xfe00_0000_0000_0000n, 1n << 57n, 1n << 63n]) {
        expectFault(f.tr({ iova }), 'FS_NON_CANONICAL');
      }
    });

    it('0x80 uses FSPM, not AW: an IOVA canonical for 5-level but not 4-level faults in a 4-level table', async () => {
      const f = await fsFixture({ tables, entry: { aw: 3 } });
      expectFault(f.tr({ iova: 1n << 50n }), 'FS_NON_CANONICAL');
    });

    it('0x80 is checked before any table is read: FSPTPTR outside RAM is not reported', async () => {
      const f = await fsFixture({ tables });
      repoint(f, q(f.pasidEntry, 2), HOLE);
      expectFault(f.tr({ iova: 1n << 47n }), 'FS_NON_CANONICAL');
    });

    it('0x73 FS_FSPTPTR_ACCESS: FSPTPTR is not in RAM (level 4)', async () => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      repoint(f, q(f.pasidEntry, 2), HOLE);
      expectFault(f.tr(), 'FS_FSPTPTR_ACCESS', 4);
    });

    it('0x73 FS_FSPTPTR_ACCESS: FSPTPTR is not in RAM (5-level: level 5)', async () => {
      const f = await fsFixture({ tables, levels: 5 });
      expectOk(f.tr());
      repoint(f, q(f.pasidEntry, 2), ABOVE_HIGH);
      expectFault(f.tr(), 'FS_FSPTPTR_ACCESS', 5);
    });

    it.each([4, 3, 2])('0x70 FS_ENTRY_ACCESS: the level-%i entry points outside RAM (fault at the level below)', async (l) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.entry(l), HOLE);
      expectFault(f.tr(), 'FS_ENTRY_ACCESS', l - 1);
    });

    it('0x70 FS_ENTRY_ACCESS: 5-level, the level-5 entry points outside RAM (level 4)', async () => {
      const f = await fsFixture({ tables, levels: 5 });
      repoint(f, f.entry(5), ABOVE_HIGH);
      expectFault(f.tr(), 'FS_ENTRY_ACCESS', 4);
    });

    it.each([4, 3, 2, 1])('0x71 FS_ENTRY_P: P clear in the level-%i entry (4-level)', async (l) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.clear(f.entry(l), FsPte.P);
      expectFault(f.tr(), 'FS_ENTRY_P', l);
    });

    it.each([5, 4, 3, 2, 1])('0x71 FS_ENTRY_P: P clear in the level-%i entry (5-level)', async (l) => {
      const f = await fsFixture({ tables, levels: 5 });
      expectOk(f.tr());
      f.clear(f.entry(l), FsPte.P);
      expectFault(f.tr(), 'FS_ENTRY_P', l);
    });

    it('0x71 FS_ENTRY_P: P clear in a 2 MiB leaf (level 2) and a 1 GiB leaf (level 3)', async () => {
      const f = await fsFixture({ tables, size: MIB2 });
      f.clear(f.entry(2), FsPte.P);
      expectFault(f.tr(), 'FS_ENTRY_P', 2);
      const g = await fsFixture({ tables, size: GIB1 });
      g.clear(g.entry(3), FsPte.P);
      expectFault(g.tr(), 'FS_ENTRY_P', 3);
    });

    it.each([4, 3, 2, 1])('0x72 FS_ENTRY_RSVD: address bit 48 (bits 51:HAW) in the level-%i entry', async (l) => {
      const f = await fsFixture({ tables });
      expectOk(f.tr());
      f.set(f.entry(l), bit(48));
      expectFault(f.tr(), 'FS_ENTRY_RSVD', l);
    });

    it('0x72 FS_ENTRY_RSVD: address bit 51 in a leaf; bits above HAW follow caps.haw', async () => {
      const f = await fsFixture({ tables });
      f.set(f.entry(1), bit(51));
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 1);
      const out = 1n << 40n;
      const g = await fsFixture({ tables, caps: { haw: 40 }, out });
      expectFault(g.tr(), 'FS_ENTRY_RSVD', 1);
      const h = await fsFixture({ tables, caps: { haw: 41 }, out });
      expect(h.tr()).toStrictEqual(success(out + OFF, KIB4, 'rwx'));
    });

    it('0x72 FS_ENTRY_RSVD: PS in the level-4 entry', async () => {
      const f = await fsFixture({ tables });
      f.set(f.entry(4), FsPte.PS);
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 4);
    });

    it('0x72 FS_ENTRY_RSVD: PS in the level-5 and in the level-4 entry (5-level)', async () => {
      const f = await fsFixture({ tables, levels: 5 });
      f.set(f.entry(5), FsPte.PS);
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 5);
      const g = await fsFixture({ tables, levels: 5 });
      g.set(g.entry(4), FsPte.PS);
      expectFault(g.tr(), 'FS_ENTRY_RSVD', 4);
    });

    it('0x72 FS_ENTRY_RSVD: a 1 GiB leaf (PS at level 3) with caps.fs1gp off (QEMU accepts it)', async () => {
      const f = await fsFixture({ tables, size: GIB1, caps: { fs1gp: false } });
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 3);
      const g = await fsFixture({ tables, size: GIB1 });
      expectOk(g.tr());
    });

    it.each([13, 16, 20])('0x72 FS_ENTRY_RSVD: bit %i of a 2 MiB leaf (bits 20:13)', async (b) => {
      const f = await fsFixture({ tables, size: MIB2 });
      expectOk(f.tr());
      f.set(f.entry(2), bit(b));
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 2);
    });

    it.each([13, 20, 21, 29])('0x72 FS_ENTRY_RSVD: bit %i of a 1 GiB leaf (bits 29:13)', async (b) => {
      const f = await fsFixture({ tables, size: GIB1 });
      expectOk(f.tr());
      f.set(f.entry(3), bit(b));
      expectFault(f.tr(), 'FS_ENTRY_RSVD', 3);
    });

    it('0x72 is not raised for XD, bits 62:52, G, bits 11:8 (EA), PWT/PCD or PAT (bit 7) of a 4 KiB leaf or its tables', async () => {
      const f = await fsFixture({ tables });
      const free = FsPte.XD | bitsHL(62, 52) | FsPte.G | bitsHL(11, 8) | FsPte.PWT | FsPte.PCD;
      for (let l = 4; l >= 2; l--) f.set(f.entry(l), free);
      f.set(f.entry(1), free | bit(7)); // bit 7 of a PTE is PAT
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });

    it('0x72 is not raised for PAT (bit 12) of a 2 MiB and a 1 GiB leaf, and bit 12 is not an address bit', async () => {
      const f = await fsFixture({ tables, size: MIB2 });
      f.set(f.entry(2), bit(12) | FsPte.G | FsPte.EA | bitsHL(62, 52));
      expect(f.tr({ iova: f.iova + 0x1_2345n })).toStrictEqual(success(f.out + 0x1_2345n, MIB2, 'rwx'));
      const g = await fsFixture({ tables, size: GIB1 });
      g.set(g.entry(3), bit(12) | FsPte.G | FsPte.EA | bitsHL(62, 52));
      expect(g.tr({ iova: g.iova + 0x123_4567n })).toStrictEqual(success(g.out + 0x123_4567n, GIB1, 'rwx'));
    });

    it('XD is never reserved and always honoured: an execute request to an XD leaf is 0x82', async () => {
      const f = await fsFixture({ tables, map: { xd: true } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
      expectFault(f.tr({ exec: true }), 'SM_EXECUTE', 1);
    });

    it('0x81 FS_US: a user request to a leaf with U/S clear', async () => {
      const f = await fsFixture({ tables, map: { user: false } });
      expectFault(f.tr(), 'FS_US', 1);
      expectFault(f.tr({ write: true }), 'FS_US', 1);
      expect(f.tr({ priv: true })).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });

    it('0x81 FS_US: U/S clear in a table entry is reported at the leaf level', async () => {
      const f = await fsFixture({ tables, size: GIB1, nonLeaf: { user: false } });
      expectFault(f.tr(), 'FS_US', 3);
    });

    it('0x85 SM_WRITE: a user write to a read-only leaf, or through a read-only table entry', async () => {
      const f = await fsFixture({ tables, map: { write: false } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rx'));
      expectFault(f.tr({ write: true }), 'SM_WRITE', 1);
      const g = await fsFixture({ tables, size: MIB2, nonLeaf: { write: false } });
      expectFault(g.tr({ write: true }), 'SM_WRITE', 2);
    });

    it('0x85 SM_WRITE: a supervisor write to a read-only leaf only with WPE', async () => {
      const f = await fsFixture({ tables, map: { write: false }, entry: { wpe: true } });
      expectFault(f.tr({ write: true, priv: true }), 'SM_WRITE', 1);
      const g = await fsFixture({ tables, map: { write: false }, entry: { wpe: false } });
      expect(g.tr({ write: true, priv: true })).toStrictEqual(success(g.out + OFF, KIB4, 'rwx'));
    });

    it('0x82 SM_EXECUTE: an execute request through XD in a table entry (leaf level), user and supervisor', async () => {
      const f = await fsFixture({ tables, size: MIB2, nonLeaf: { xd: true } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, MIB2, 'rw'));
      expectFault(f.tr({ exec: true }), 'SM_EXECUTE', 2);
      expectFault(f.tr({ exec: true, priv: true }), 'SM_EXECUTE', 2);
    });

    it('leaf permission checks run in the order U/S, write, execute', async () => {
      const f = await fsFixture({ tables, map: { user: false, write: false, xd: true } });
      expectFault(f.tr({ write: true, exec: true }), 'FS_US', 1);
      const g = await fsFixture({ tables, map: { write: false, xd: true } });
      expectFault(g.tr({ write: true, exec: true }), 'SM_WRITE', 1);
    });

    it('0x87 SM_INTERRUPT_ADDR: a first-stage output in 0xFEE00000-0xFEEFFFFF (no level)', async () => {
      for (const out of [0xfee0_0000n, 0xfeef_f000n]) {
        const f = await fsFixture({ tables, out });
        expectFault(f.tr(), 'SM_INTERRUPT_ADDR');
      }
      for (const out of [0xfedf_f000n, 0xfef0_0000n]) {
        const f = await fsFixture({ tables, out });
        expectOk(f.tr());
      }
    });

    it('the bare firstStageWalk: 0x5D/0x5C before the walk, the §5 faults, 0x87 after a successful walk', async () => {
      const f = await fsFixture({ tables, out: 0xfee0_0000n });
      const walk = { root: f.pt.root, levels: 4 as const, iova: f.iova + OFF };
      expectFault(f.vtd.firstStageWalk(walk), 'SM_INTERRUPT_ADDR');
      expectFault(f.vtd.firstStageWalk({ ...walk, priv: true, sre: false }), 'SM_PASID_ENTRY_SRE');
      expectFault(f.vtd.firstStageWalk({ ...walk, exec: true, ere: false }), 'SM_PASID_ENTRY_ERE');
      expectFault(f.vtd.firstStageWalk({ ...walk, iova: 1n << 47n }), 'FS_NON_CANONICAL');
      expectFault(f.vtd.firstStageWalk({ ...walk, root: HOLE }), 'FS_FSPTPTR_ACCESS', 4);
      expectFault(f.vtd.firstStageWalk({ ...walk, iova: walk.iova + 0x1000n }), 'FS_ENTRY_P', 1);
    });

    it('0x87 SM_INTERRUPT_ADDR: a 2 MiB page at 0xFEE00000 faults in its first MiB only', async () => {
      const f = await fsFixture({ tables, size: MIB2, out: 0xfee0_0000n });
      expectFault(f.tr({ iova: f.iova + 0xf_ffffn }), 'SM_INTERRUPT_ADDR');
      expect(f.tr({ iova: f.iova + 0x10_0000n })).toStrictEqual(success(0xfef0_0000n, MIB2, 'rwx'));
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§6 second-stage walk (PGTT 010b)', () => {
    it('0x83 SM_ADDR_BEYOND_MAX: input beyond the AW width (3-level: 2^39, 4-level: 2^48)', async () => {
      const f = await ssFixture({ tables, aw: 1 });
      expectOk(f.tr());
      expectFault(f.tr({ iova: 1n << 39n }), 'SM_ADDR_BEYOND_MAX');
      const g = await ssFixture({ tables, aw: 2 });
      expectFault(g.tr({ iova: 1n << 48n }), 'SM_ADDR_BEYOND_MAX');
      expectFault(g.tr({ iova: 1n << 63n }), 'SM_ADDR_BEYOND_MAX');
      expectFault(g.tr({ iova: (1n << 48n) - 1n }), 'SM_READ', 4); // in range, nothing mapped
    });

    it('0x83 SM_ADDR_BEYOND_MAX: input beyond caps.mgaw when it is narrower than AW', async () => {
      const f = await ssFixture({ tables, aw: 2, caps: { mgaw: 40 } });
      expectOk(f.tr());
      expectFault(f.tr({ iova: 1n << 40n }), 'SM_ADDR_BEYOND_MAX');
      expectFault(f.tr({ iova: (1n << 40n) - 4096n }), 'SM_READ', 4);
      const g = await ssFixture({ tables, aw: 3, caps: { sagaw: 0b1110 } }); // 5-level, MGAW 48
      expectOk(g.tr());
      expectFault(g.tr({ iova: 1n << 48n }), 'SM_ADDR_BEYOND_MAX');
      const h = await ssFixture({ tables, aw: 3, caps: { sagaw: 0b1110, mgaw: 57 } });
      expectFault(h.tr({ iova: 1n << 48n }), 'SM_READ', 5);
      expectFault(h.tr({ iova: 1n << 57n }), 'SM_ADDR_BEYOND_MAX');
    });

    it.each([[1, 3], [2, 4], [3, 5]] as const)('0x7B SS_SSPTPTR_ACCESS: SSPTPTR is not in RAM (AW %i: level %i)', async (aw, top) => {
      const f = await ssFixture({ tables, aw, caps: { sagaw: 0b1110 } });
      expectOk(f.tr());
      repoint(f, q(f.pasidEntry, 0), HOLE);
      expectFault(f.tr(), 'SS_SSPTPTR_ACCESS', top);
    });

    it.each([4, 3, 2])('0x78 SS_ENTRY_ACCESS: the level-%i entry points outside RAM (fault at the level below)', async (l) => {
      const f = await ssFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.entry(l), ABOVE_HIGH);
      expectFault(f.tr(), 'SS_ENTRY_ACCESS', l - 1);
    });

    it.each([4, 3, 2, 1])('0x7A SS_ENTRY_RSVD: address bit 48 (bits 51:HAW) in the level-%i entry', async (l) => {
      const f = await ssFixture({ tables });
      expectOk(f.tr());
      f.set(f.entry(l), bit(48));
      expectFault(f.tr(), 'SS_ENTRY_RSVD', l);
    });

    it('0x7A SS_ENTRY_RSVD: bit 62 (TM) without caps.dt; accepted with caps.dt', async () => {
      const f = await ssFixture({ tables, map: { raw: SsPte.TM } });
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 1);
      const g = await ssFixture({ tables, map: { raw: SsPte.TM }, caps: { dt: true } });
      expect(g.tr()).toStrictEqual(success(g.out + OFF, KIB4, 'rw'));
    });

    it('0x7A SS_ENTRY_RSVD: PS at level 4, and at level 5 of a 5-level table', async () => {
      const f = await ssFixture({ tables });
      f.set(f.entry(4), SsPte.PS);
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 4);
      const g = await ssFixture({ tables, aw: 3, caps: { sagaw: 0b1110 } });
      expectOk(g.tr());
      g.set(g.entry(5), SsPte.PS);
      expectFault(g.tr(), 'SS_ENTRY_RSVD', 5);
    });

    it('0x7A SS_ENTRY_RSVD: a 1 GiB leaf without SSLPS 1 GiB, a 2 MiB leaf without SSLPS 2 MiB', async () => {
      const f = await ssFixture({ tables, size: GIB1, caps: { sslps: 0b01 } });
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 3);
      const g = await ssFixture({ tables, size: MIB2, caps: { sslps: 0b10 } });
      expectFault(g.tr(), 'SS_ENTRY_RSVD', 2);
      const h = await ssFixture({ tables, size: MIB2, caps: { sslps: 0b01 } });
      expectOk(h.tr());
    });

    it.each([12, 16, 20])('0x7A SS_ENTRY_RSVD: bit %i of a 2 MiB leaf (bits 20:12)', async (b) => {
      const f = await ssFixture({ tables, size: MIB2 });
      expectOk(f.tr());
      f.set(f.entry(2), bit(b));
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 2);
    });

    it.each([12, 21, 29])('0x7A SS_ENTRY_RSVD: bit %i of a 1 GiB leaf (bits 29:12)', async (b) => {
      const f = await ssFixture({ tables, size: GIB1 });
      expectOk(f.tr());
      f.set(f.entry(3), bit(b));
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 3);
    });

    it('0x7A is not raised for SNP (bit 11), ignored bits or bit 63', async () => {
      const f = await ssFixture({ tables, map: { raw: SsPte.SNP | bit(63) | bitsHL(10, 8) } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
    });

    it('0x7A is only checked on present entries: an R=W=0 entry with reserved bits is not present (0x86/0x85)', async () => {
      const f = await ssFixture({ tables });
      f.write(f.entry(1), f.out | bit(48) | SsPte.TM | SsPte.PS | SsPte.X);
      expectFault(f.tr(), 'SM_READ', 1);
      expectFault(f.tr({ write: true }), 'SM_WRITE', 1);
    });

    it('0x86 SM_READ: a read of a not-present entry (at its level) or of a write-only leaf', async () => {
      const f = await ssFixture({ tables });
      f.write(f.entry(3), 0n);
      expectFault(f.tr(), 'SM_READ', 3);
      const g = await ssFixture({ tables, map: { read: false } });
      expect(g.tr({ write: true })).toStrictEqual(success(g.out + OFF, KIB4, 'w'));
      expectFault(g.tr(), 'SM_READ', 1);
      const h = await ssFixture({ tables, size: MIB2, nonLeaf: { read: false } });
      expectFault(h.tr(), 'SM_READ', 2);
    });

    it('0x85 SM_WRITE: a write to a not-present entry or through a read-only leaf / table entry', async () => {
      const f = await ssFixture({ tables });
      f.write(f.entry(2), 0n);
      expectFault(f.tr({ write: true }), 'SM_WRITE', 2);
      const g = await ssFixture({ tables, map: { write: false } });
      expect(g.tr()).toStrictEqual(success(g.out + OFF, KIB4, 'r'));
      expectFault(g.tr({ write: true }), 'SM_WRITE', 1);
      const h = await ssFixture({ tables, nonLeaf: { write: false } });
      expectFault(h.tr({ write: true }), 'SM_WRITE', 1);
    });

    it('0x82 SM_EXECUTE: an execute request (with PASID) without X, at the leaf level', async () => {
      const f = await ssFixture({ tables });
      expectFault(f.tr({ exec: true }), 'SM_EXECUTE', 1);
      const g = await ssFixture({ tables, size: MIB2, map: { exec: true }, nonLeaf: { exec: false } });
      expectFault(g.tr({ exec: true }), 'SM_EXECUTE', 2);
      const h = await ssFixture({ tables, map: { exec: true } });
      expect(h.tr({ exec: true })).toStrictEqual(success(h.out + OFF, KIB4, 'rwx'));
    });

    it('second-stage permission checks run read/write before execute', async () => {
      const f = await ssFixture({ tables, map: { write: false } });
      expectFault(f.tr({ write: true, exec: true }), 'SM_WRITE', 1);
    });

    it('0x87 SM_INTERRUPT_ADDR: a second-stage output in the interrupt range', async () => {
      const f = await ssFixture({ tables, out: 0xfee0_0000n });
      expectFault(f.tr(), 'SM_INTERRUPT_ADDR');
      const g = await ssFixture({ tables, size: MIB2, out: 0xfee0_0000n });
      expectFault(g.tr({ iova: g.iova + 0xf_f000n }), 'SM_INTERRUPT_ADDR');
      expectOk(g.tr({ iova: g.iova + 0x10_0000n }));
    });
  });

  // -------------------------------------------------------------------------------------
  describe('§7 nested (PGTT 011b)', () => {
    it('a nested configuration translates: first stage to GPA, second stage to the output', async () => {
      const f = await nestedFixture({ tables });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    });

    it('0x74 NESTED_FS_ADDR_BEYOND_SS: FSPTPTR beyond the second stage (MGAW 39)', async () => {
      const f = await nestedFixture({ tables, caps: { mgaw: 39 } });
      expectOk(f.tr());
      repoint(f, q(f.pasidEntry, 2), 1n << 39n);
      expectFault(f.tr(), 'NESTED_FS_ADDR_BEYOND_SS');
    });

    it('0x74 NESTED_FS_ADDR_BEYOND_SS: a lower first-stage table beyond the second stage (AW 1: 39 bits)', async () => {
      const f = await nestedFixture({ tables, aw: 1 });
      expectOk(f.tr());
      repoint(f, f.fsEntry(3), 1n << 40n);
      expectFault(f.tr(), 'NESTED_FS_ADDR_BEYOND_SS');
    });

    it('0x74 NESTED_FS_ADDR_BEYOND_SS: the first-stage output address beyond the second stage', async () => {
      const f = await nestedFixture({ tables, aw: 1 });
      repoint(f, f.fsEntry(1), 1n << 39n);
      expectFault(f.tr(), 'NESTED_FS_ADDR_BEYOND_SS');
    });

    it('0x75 NESTED_FS_TOP_TABLE_READ: the FSPTPTR table is write-only in the second stage (second-stage leaf level)', async () => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      f.ss.map(f.fsTable(4), f.fsTable(4), { read: false, write: true });
      f.invalidate();
      expectFault(f.tr(), 'NESTED_FS_TOP_TABLE_READ', 1);
    });

    it('0x75 NESTED_FS_TOP_TABLE_READ: the FSPTPTR table is not mapped by the second stage (level where it stopped)', async () => {
      const f = await nestedFixture({ tables });
      f.ss.unmap(f.fsTable(4));
      f.invalidate();
      expectFault(f.tr(), 'NESTED_FS_TOP_TABLE_READ', 1);
      const g = await nestedFixture({ tables });
      g.write(g.ssEntry(g.fsTable(4), 2), 0n);
      expectFault(g.tr(), 'NESTED_FS_TOP_TABLE_READ', 2);
    });

    it.each([3, 2, 1])('0x76 NESTED_FS_TABLE_READ: the table holding the level-%i entry is write-only in the second stage', async (l) => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      f.ss.map(f.fsTable(l), f.fsTable(l), { read: false, write: true });
      f.invalidate();
      expectFault(f.tr(), 'NESTED_FS_TABLE_READ', 1);
    });

    it('0x77 NESTED_FS_AD_WRITE: A must be set in a table entry whose table is read-only in the second stage', async () => {
      const f = await nestedFixture({ tables });
      f.ss.map(f.fsTable(3), f.fsTable(3), { write: false });
      f.invalidate();
      const before = f.read(f.fsEntry(3));
      expectFault(f.tr(), 'NESTED_FS_AD_WRITE', 3);
      expect(f.read(f.fsEntry(3))).toBe(before); // checked before the update is written
      expect(f.read(f.fsEntry(4)) & FsPte.A).toBe(FsPte.A); // the level above was writable
    });

    it('0x77 NESTED_FS_AD_WRITE: D must be set on the leaf of a write whose table is read-only (A already set)', async () => {
      const f = await nestedFixture({ tables, fsNonLeaf: { accessed: true }, fsMap: { accessed: true } });
      f.ss.map(f.fsTable(1), f.fsTable(1), { write: false });
      f.invalidate();
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx')); // nothing to write
      expectFault(f.tr({ write: true }), 'NESTED_FS_AD_WRITE', 1);
      expect(f.read(f.fsEntry(1)) & FsPte.D).toBe(0n);
    });

    it('0x77 NESTED_FS_AD_WRITE: EA must be set (EAFE) in the top-level entry whose table is read-only', async () => {
      const f = await nestedFixture({ tables, fsNonLeaf: { accessed: true }, fsMap: { accessed: true }, entry: { eafe: true } });
      f.ss.map(f.fsTable(4), f.fsTable(4), { write: false });
      f.invalidate();
      expectFault(f.tr(), 'NESTED_FS_AD_WRITE', 4);
    });

    it('0x78 SS_ENTRY_ACCESS: a second-stage entry translating the FSPTPTR table points outside RAM', async () => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      repoint(f, f.ssEntry(f.fsTable(4), 4), HOLE);
      expectFault(f.tr(), 'SS_ENTRY_ACCESS', 3);
    });

    it('0x78 SS_ENTRY_ACCESS: a second-stage entry translating the output address points outside RAM', async () => {
      const f = await nestedFixture({ tables });
      repoint(f, f.ssEntry(f.gpa, 3), HOLE);
      expectFault(f.tr(), 'SS_ENTRY_ACCESS', 2);
    });

    it('0x79 SS_PERMISSION: a write to an output page the second stage maps read-only', async () => {
      const f = await nestedFixture({ tables, ssMap: { write: false } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rx'));
      expectFault(f.tr({ write: true }), 'SS_PERMISSION', 1);
    });

    it('0x79 SS_PERMISSION: a read of an output page the second stage maps write-only', async () => {
      const f = await nestedFixture({ tables, ssMap: { read: false } });
      expectFault(f.tr(), 'SS_PERMISSION', 1);
    });

    it('0x79 SS_PERMISSION: an execute request to an output page without X in the second stage', async () => {
      const f = await nestedFixture({ tables, ssMap: { exec: false } });
      expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
      expectFault(f.tr({ exec: true }), 'SS_PERMISSION', 1);
    });

    it('0x79 SS_PERMISSION: an output page the second stage does not map (level where the walk stopped)', async () => {
      const f = await nestedFixture({ tables });
      f.ss.unmap(f.gpa);
      f.invalidate();
      expectFault(f.tr(), 'SS_PERMISSION', 1);
    });

    it('0x7A SS_ENTRY_RSVD: reserved bits in the second-stage leaf of the FSPTPTR table / of the output', async () => {
      const f = await nestedFixture({ tables });
      f.set(f.ssEntry(f.fsTable(4), 1), SsPte.TM);
      expectFault(f.tr(), 'SS_ENTRY_RSVD', 1);
      const g = await nestedFixture({ tables });
      g.set(g.ssEntry(g.gpa, 1), bit(50));
      expectFault(g.tr(), 'SS_ENTRY_RSVD', 1);
    });

    it('0x7B SS_SSPTPTR_ACCESS: SSPTPTR is not in RAM (top second-stage level)', async () => {
      const f = await nestedFixture({ tables });
      expectOk(f.tr());
      repoint(f, q(f.pasidEntry, 0), HOLE);
      expectFault(f.tr(), 'SS_SSPTPTR_ACCESS', 4);
    });

    it('0x87 SM_INTERRUPT_ADDR: the second stage puts the nested output in the interrupt range', async () => {
      const f = await nestedFixture({ tables, out: 0xfee0_0000n });
      expectFault(f.tr(), 'SM_INTERRUPT_ADDR');
    });
  });
});
