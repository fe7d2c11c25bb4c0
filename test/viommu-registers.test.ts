/**
 * The VT-d register file through vtd.mmio: identification registers computed from the
 * capabilities, GCMD/GSTS command semantics, RTADDR latching, bit behaviour (RO, RW1C,
 * reserved, write-only), unimplemented offsets, access checks, register-based invalidation.
 */
import { describe, expect, it } from 'vitest';
import {
  CapField, Ccmd, EcapField, EventCtl, Fsts, Gcmd, Gsts, GuestBuilder, IotlbReg, Reg, VtdArgumentError,
} from '../src/index.js';
import { createUnit, GuestDriver } from './support/viommu-driver.js';

const RAM = [{ base: 0x10_0000n, size: 16n << 20n }];
const field = (v: bigint, shift: number, bits: number): number => Number((v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
const bit = (v: bigint, shift: number): boolean => field(v, shift, 1) === 1;

/** A legacy-mode device 00:03.0 with a second-stage table mapping iova 0x1000 -> 0x20_0000. */
async function legacySetup(options = {}) {
  const u = await createUnit(options);
  const guest = new GuestBuilder(u.vtd.memory, RAM);
  const ss = guest.secondStage({ aw: 2 });
  ss.map(0x1000n, 0x20_0000n);
  const sid = 0x18;
  guest.legacyDevice(sid, { ssptptr: ss.root, aw: 2, did: 7 });
  const drv = new GuestDriver(u.vtd, guest.alloc);
  return { ...u, guest, ss, sid, drv };
}

describe('identification registers', () => {
  it('VER reads major 1, minor 0', async () => {
    const { vtd } = await createUnit();
    expect(vtd.mmio.read(Reg.VER, 4)).toBe(0x10n);
  });

  it('CAP reports 16-bit domain ids, SAGAW, MGAW, PSI, MAMV, SSLPS, drain and ESRTPS', async () => {
    const { vtd } = await createUnit({ caps: { sagaw: 0b0110, mgaw: 48, sslps: 0b11 } });
    const cap = vtd.mmio.read(Reg.CAP, 8);
    expect(field(cap, CapField.ND, 3)).toBe(6);
    expect(field(cap, CapField.SAGAW, 5)).toBe(0b0110);
    expect(field(cap, CapField.MGAW, 6)).toBe(47);
    expect(bit(cap, CapField.PSI)).toBe(true);
    expect(field(cap, CapField.MAMV, 6)).toBe(18);
    expect(field(cap, CapField.SSLPS, 4)).toBe(0b11);
    expect(bit(cap, CapField.DRD) && bit(cap, CapField.DWD)).toBe(true);
    expect(bit(cap, CapField.ESRTPS)).toBe(true);
    expect(bit(cap, CapField.RWBF) || bit(cap, CapField.PLMR) || bit(cap, CapField.PHMR) || bit(cap, CapField.AFL)).toBe(false);
  });

  it('CAP.FRO points at the fault-recording registers and CAP.NFR + 1 is the configured count', async () => {
    const { vtd } = await createUnit({ faultRecords: 5 });
    const cap = vtd.mmio.read(Reg.CAP, 8);
    expect(field(cap, CapField.FRO, 10) * 16).toBe(0x220);
    expect(field(cap, CapField.NFR, 8) + 1).toBe(5);
  });

  it('CAP.NFR defaults to 8 records', async () => {
    const { vtd } = await createUnit();
    expect(field(vtd.mmio.read(Reg.CAP, 8), CapField.NFR, 8) + 1).toBe(8);
  });

  it('CAP.CM, FS1GP and FS5LP follow cachingMode, fs1gp and fs5lp', async () => {
    const on = (await createUnit({ caps: { cachingMode: true, fs1gp: true, fs5lp: true } })).vtd.mmio.read(Reg.CAP, 8);
    const off = (await createUnit({ caps: { cachingMode: false, fs1gp: false, fs5lp: false } })).vtd.mmio.read(Reg.CAP, 8);
    expect([bit(on, CapField.CM), bit(on, CapField.FS1GP), bit(on, CapField.FS5LP)]).toEqual([true, true, true]);
    expect([bit(off, CapField.CM), bit(off, CapField.FS1GP), bit(off, CapField.FS5LP)]).toEqual([false, false, false]);
  });

  it('ECAP reports QI, PT, SC, IRO, SMTS, FSTS, SSTS, PASID, PSS, ERS, SRS for the default scalable unit', async () => {
    const { vtd } = await createUnit();
    const e = vtd.mmio.read(Reg.ECAP, 8);
    for (const f of [EcapField.QI, EcapField.PT, EcapField.SC, EcapField.SMTS, EcapField.FSTS, EcapField.SSTS,
      EcapField.PASID, EcapField.ERS, EcapField.SRS]) expect([f, bit(e, f)]).toEqual([f, true]);
    expect(field(e, EcapField.IRO, 10) * 16).toBe(Reg.IVA);
    expect(field(e, EcapField.PSS, 5)).toBe(19);
    for (const f of [EcapField.IR, EcapField.EIM, EcapField.PRS, EcapField.NEST, EcapField.DT, EcapField.RPS]) {
      expect([f, bit(e, f)]).toEqual([f, false]);
    }
  });

  it('ECAP.NEST, DT and RPS follow the capabilities', async () => {
    const e = (await createUnit({ caps: { nest: true, dt: true, rps: true } })).vtd.mmio.read(Reg.ECAP, 8);
    expect([bit(e, EcapField.NEST), bit(e, EcapField.DT), bit(e, EcapField.RPS)]).toEqual([true, true, true]);
  });

  it('ECAP advertises no scalable-mode feature on a legacy-only unit', async () => {
    const e = (await createUnit({ caps: { smts: false } })).vtd.mmio.read(Reg.ECAP, 8);
    for (const f of [EcapField.SMTS, EcapField.FSTS, EcapField.SSTS, EcapField.PASID, EcapField.NEST, EcapField.ERS, EcapField.SRS]) {
      expect([f, bit(e, f)]).toEqual([f, false]);
    }
    expect(field(e, EcapField.PSS, 5)).toBe(0);
    expect(bit(e, EcapField.QI)).toBe(true);
  });

  it('CAP and ECAP are read-only', async () => {
    const { vtd } = await createUnit();
    const cap = vtd.mmio.read(Reg.CAP, 8), ecap = vtd.mmio.read(Reg.ECAP, 8);
    vtd.mmio.write(Reg.CAP, 8, 0n);
    vtd.mmio.write(Reg.ECAP + 4, 4, 0xffff_ffff);
    expect([vtd.mmio.read(Reg.CAP, 8), vtd.mmio.read(Reg.ECAP, 8)]).toEqual([cap, ecap]);
  });

  it('a 4-byte read of a 64-bit register returns its halves', async () => {
    const { vtd } = await createUnit();
    const cap = vtd.mmio.read(Reg.CAP, 8);
    expect(vtd.mmio.read(Reg.CAP, 4)).toBe(cap & 0xffff_ffffn);
    expect(vtd.mmio.read(Reg.CAP + 4, 4)).toBe(cap >> 32n);
  });
});

describe('GCMD and GSTS', () => {
  it('GSTS is all clear at reset', async () => {
    const { vtd } = await createUnit();
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(0n);
  });

  it('GCMD reads as 0 (write-only commands)', async () => {
    const { drv } = await legacySetup();
    drv.setRootTable(drv.alloc.alloc(), false);
    expect(drv.rd32(Reg.GCMD)).toBe(0);
  });

  it('SRTP latches RTADDR and sets GSTS.RTPS without enabling translation', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.wr64(Reg.RTADDR, guest.root());
    drv.wr32(Reg.GCMD, Gcmd.SRTP);
    expect(drv.rd32(Reg.GSTS)).toBe(Gsts.RTPS);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ ok: true, address: 0x1000n }); // still untranslated
  });

  it('TE enables DMA remapping with the latched root table and sets GSTS.TES', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    expect(drv.rd32(Reg.GSTS) & Gsts.TES).not.toBe(0);
    expect(vtd.translate({ sid, iova: 0x1123n })).toMatchObject({ ok: true, address: 0x20_0123n });
  });

  it('clearing TE turns remapping off and clears GSTS.TES', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    drv.enableTranslation(false);
    expect(drv.rd32(Reg.GSTS) & Gsts.TES).toBe(0);
    expect(vtd.translate({ sid, iova: 0x1123n })).toMatchObject({ ok: true, address: 0x1123n });
  });

  it('writing RTADDR without SRTP does not change the root table in use', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    drv.wr64(Reg.RTADDR, drv.alloc.alloc()); // an empty table, not latched
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ ok: true, address: 0x20_0000n });
  });

  it('SRTP while translating switches to the new root table at once', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    drv.setRootTable(drv.alloc.alloc(), false); // empty root table
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ ok: false, fault: { reason: 0x1 } });
  });

  it('RTADDR.TTM = 01b selects scalable mode', async () => {
    const { vtd, drv } = await legacySetup();
    const sm = new GuestBuilder(vtd.memory, [{ base: 0x180_0000n, size: 4n << 20n }]);
    const fs = sm.firstStage();
    fs.map(0x5000n, 0x30_0000n);
    sm.scalableDevice(0x20);
    sm.pasidEntry(0x20, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root });
    drv.setRootTable(sm.root(), true);
    drv.enableTranslation();
    expect(vtd.translate({ sid: 0x20, iova: 0x5000n })).toMatchObject({ ok: true, address: 0x30_0000n });
    expect(vtd.root).toEqual({ address: sm.root(), scalable: true });
  });

  it('a reserved TTM (10b) makes every request fault 0x30', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.wr64(Reg.RTADDR, guest.root() | (2n << 10n));
    drv.wr32(Reg.GCMD, Gcmd.SRTP);
    drv.wr32(Reg.GCMD, Gcmd.TE);
    expect(vtd.translate({ sid, iova: 0x1000n })).toEqual({ ok: false, fault: { reason: 0x30, name: 'SM_RTADDR_INV' } });
  });

  it('TTM = scalable on a unit without SMTS faults 0x30', async () => {
    const { vtd, drv, guest, sid } = await legacySetup({ caps: { smts: false } });
    drv.wr64(Reg.RTADDR, guest.root() | (1n << 10n));
    drv.wr32(Reg.GCMD, Gcmd.SRTP);
    drv.wr32(Reg.GCMD, Gcmd.TE);
    const batch = vtd.createBatch(2);
    batch.sid.fill(sid);
    batch.pasid.fill(0xffff_ffff);
    expect(vtd.translateBatch(batch, 2)).toBe(2);
    expect([...batch.fault]).toEqual([0x30, 0x30]);
  });

  it('RTADDR bits 9:0 are reserved and read as 0', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.RTADDR, 8, 0x1234_5fffn);
    expect(vtd.mmio.read(Reg.RTADDR, 8)).toBe(0x1234_5c00n);
  });

  it('unsupported GCMD commands (IRE, SIRTP, WBF, SFL, CFI) leave GSTS unchanged', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.GCMD, 4, Gcmd.IRE | Gcmd.SIRTP | Gcmd.WBF | Gcmd.SFL | Gcmd.CFI | Gcmd.EAFL);
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(0n);
  });

  it('GSTS is read-only', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.GSTS, 4, 0xffff_ffff);
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(0n);
  });

  it('an 8-byte write at GCMD commands through GCMD and leaves GSTS read-only', async () => {
    const { vtd, guest } = await legacySetup();
    vtd.mmio.write(Reg.RTADDR, 8, guest.root());
    vtd.mmio.write(Reg.GCMD, 8, (0xffff_ffffn << 32n) | BigInt(Gcmd.SRTP));
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(BigInt(Gsts.RTPS));
  });

  it('SRTP drops cached translations (ESRTPS)', async () => {
    const { vtd, drv, guest, ss, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    vtd.translate({ sid, iova: 0x1000n });
    ss.map(0x1000n, 0x40_0000n); // PTE rewritten, no invalidation
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x20_0000n });
    drv.setRootTable(guest.root(), false);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x40_0000n });
  });

  it('a TE change drops cached translations', async () => {
    const { vtd, drv, guest, ss, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    vtd.translate({ sid, iova: 0x1000n });
    ss.map(0x1000n, 0x40_0000n);
    drv.enableTranslation(false);
    drv.enableTranslation(true);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x40_0000n });
  });

  it('GCMD hooks see SRTP and TE changes', async () => {
    const { drv, vtd, guest } = await legacySetup();
    const seen: unknown[] = [];
    vtd.mmio.hooks.translationChanged = (i) => void seen.push(i);
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    expect(seen).toEqual([
      { cause: 'srtp', enabled: false, rootTable: { address: guest.root(), ttm: 0 } },
      { cause: 'te', enabled: true, rootTable: { address: guest.root(), ttm: 0 } },
    ]);
  });

  it('vtd.setRootTable and disableTranslation keep RTADDR and GSTS in step', async () => {
    const { vtd, guest } = await legacySetup();
    vtd.setRootTable(guest.root(), { scalable: false });
    expect(vtd.mmio.read(Reg.RTADDR, 8)).toBe(guest.root());
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(BigInt(Gsts.TES + Gsts.RTPS));
    vtd.disableTranslation();
    expect(vtd.mmio.read(Reg.GSTS, 4)).toBe(BigInt(Gsts.RTPS));
  });
});

describe('bit behaviour', () => {
  it('FSTS status bits are write-1-to-clear and PPF is read-only', async () => {
    const { vtd, drv, guest } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    vtd.translate({ sid: 0x500, iova: 0n }); // root entry not present: recorded
    expect(drv.rd32(Reg.FSTS) & Fsts.PPF).not.toBe(0);
    drv.wr32(Reg.FSTS, 0xffff_ffff);
    expect(drv.rd32(Reg.FSTS) & Fsts.PPF).not.toBe(0);
  });

  it('FECTL resets with IM set; IP is read-only', async () => {
    const { vtd } = await createUnit();
    expect(vtd.mmio.read(Reg.FECTL, 4)).toBe(BigInt(EventCtl.IM));
    vtd.mmio.write(Reg.FECTL, 4, EventCtl.IP);
    expect(vtd.mmio.read(Reg.FECTL, 4)).toBe(0n);
  });

  it('IECTL resets with IM set', async () => {
    const { vtd } = await createUnit();
    expect(vtd.mmio.read(Reg.IECTL, 4)).toBe(BigInt(EventCtl.IM));
  });

  it('FEDATA/IEDATA bits 31:16 and FEADDR/IEADDR bits 1:0 are reserved', async () => {
    const { vtd } = await createUnit();
    for (const r of [Reg.FEDATA, Reg.IEDATA]) vtd.mmio.write(r, 4, 0xffff_ffff);
    for (const r of [Reg.FEADDR, Reg.IEADDR]) vtd.mmio.write(r, 4, 0xfee0_0003);
    expect([Reg.FEDATA, Reg.IEDATA, Reg.FEADDR, Reg.IEADDR].map((r) => vtd.mmio.read(r, 4))).toEqual([0xffffn, 0xffffn, 0xfee0_0000n, 0xfee0_0000n]);
  });

  it('FEUADDR and IEUADDR hold 32 bits', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.FEUADDR, 4, 0xdead_beef);
    expect(vtd.mmio.read(Reg.FEUADDR, 4)).toBe(0xdead_beefn);
  });

  it('IQT keeps only the queue offset (bits 18:4)', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.IQT, 8, 0xffff_ffff_ffff_ffffn);
    expect(vtd.mmio.read(Reg.IQT, 8)).toBe(0x7fff0n);
  });

  it('IQH is read-only', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.IQH, 8, 0x100n);
    expect(vtd.mmio.read(Reg.IQH, 8)).toBe(0n);
  });

  it('IQA.DW is writable only with SMTS; bits 10:3 are reserved', async () => {
    const sm = (await createUnit()).vtd;
    const legacy = (await createUnit({ caps: { smts: false } })).vtd;
    for (const v of [sm, legacy]) v.mmio.write(Reg.IQA, 8, 0x12_3fffn);
    expect(sm.mmio.read(Reg.IQA, 8)).toBe(0x12_3807n);
    expect(legacy.mmio.read(Reg.IQA, 8)).toBe(0x12_3007n);
  });

  it('ICS.IWC is write-1-to-clear; other ICS bits are reserved', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.ICS, 4, 0xffff_ffff);
    expect(vtd.mmio.read(Reg.ICS, 4)).toBe(0n);
  });

  it('IQERCD is read-only', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.IQERCD, 8, 0xffffn);
    expect(vtd.mmio.read(Reg.IQERCD, 8)).toBe(0n);
  });

  it('the low qword of a fault-recording register is read-only', async () => {
    const { vtd } = await createUnit();
    vtd.mmio.write(Reg.FRCD, 8, 0xffff_f000n);
    expect(vtd.mmio.read(Reg.FRCD, 8)).toBe(0n);
  });
});

describe('unimplemented offsets and access checks', () => {
  it('reads of unimplemented offsets return 0', async () => {
    const { vtd } = await createUnit();
    for (const off of [0x30, 0x48, 0x58, 0x64, 0xb8, 0xc0, 0x100, 0x218, 0xe10]) expect([off, vtd.mmio.read(off, 4)]).toEqual([off, 0n]);
  });

  it('writes to unimplemented offsets are ignored and traced', async () => {
    const { vtd, traces } = await createUnit();
    vtd.mmio.write(0xb8, 8, 0x1234_5000n); // IRTA: no interrupt remapping
    expect(vtd.mmio.read(0xb8, 8)).toBe(0n);
    expect(traces).toContainEqual({ name: 'vtd_reg_write_unimplemented', args: { offset: 0xb8, size: 8, value: 0x1234_5000n } });
  });

  it('an access size other than 4 or 8 is a VtdArgumentError', async () => {
    const { vtd } = await createUnit();
    expect(() => vtd.mmio.read(Reg.GSTS, 2)).toThrow(VtdArgumentError);
    expect(() => vtd.mmio.write(Reg.GCMD, 1, 0)).toThrow(VtdArgumentError);
  });

  it('a misaligned offset is a VtdArgumentError', async () => {
    const { vtd } = await createUnit();
    expect(() => vtd.mmio.read(Reg.GSTS, 8)).toThrow(VtdArgumentError);
    expect(() => vtd.mmio.write(Reg.GCMD + 2, 4, 0)).toThrow(VtdArgumentError);
  });

  it('an offset outside the register window is a VtdArgumentError', async () => {
    const { vtd } = await createUnit();
    expect(vtd.mmio.size).toBe(0x1000);
    expect(() => vtd.mmio.read(0x1000, 4)).toThrow(VtdArgumentError);
    expect(() => vtd.mmio.read(-4, 4)).toThrow(VtdArgumentError);
  });

  it('a value that does not fit the access is a VtdArgumentError', async () => {
    const { vtd } = await createUnit();
    expect(() => vtd.mmio.write(Reg.FEDATA, 4, 1n << 32n)).toThrow(VtdArgumentError);
    expect(() => vtd.mmio.write(Reg.FEDATA, 4, -1)).toThrow(VtdArgumentError);
    expect(() => vtd.mmio.write(Reg.RTADDR, 8, 1n << 64n)).toThrow(VtdArgumentError);
  });

  it('faultRecords out of [1, 256] is a VtdArgumentError', async () => {
    await expect(createUnit({ faultRecords: 0 })).rejects.toThrow(VtdArgumentError);
    await expect(createUnit({ faultRecords: 257 })).rejects.toThrow(VtdArgumentError);
  });

  it('the register window grows past 4 KiB for many fault-recording registers', async () => {
    const { vtd } = await createUnit({ faultRecords: 256 });
    expect(vtd.mmio.size).toBe(0x2000);
    expect(vtd.mmio.read(Reg.FRCD + 255 * 16 + 8, 8)).toBe(0n);
  });
});

describe('register-based invalidation', () => {
  async function stale() {
    const s = await legacySetup();
    s.drv.setRootTable(s.guest.root(), false);
    s.drv.enableTranslation();
    s.vtd.translate({ sid: s.sid, iova: 0x1000n });
    s.ss.map(0x1000n, 0x40_0000n); // rewritten without invalidation
    return s;
  }

  it('IOTLB_REG global invalidation drops the stale translation and reports IAIG', async () => {
    const { vtd, drv, sid } = await stale();
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x20_0000n });
    expect(drv.iotlbRegister(1)).toBe(1);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x40_0000n });
  });

  it('IOTLB_REG page-selective invalidation uses IVA', async () => {
    const { vtd, drv, sid } = await stale();
    expect(drv.iotlbRegister(3, 7, 0x8000n)).toBe(3); // another page: stays stale
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x20_0000n });
    expect(drv.iotlbRegister(3, 7, 0x1000n)).toBe(3);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x40_0000n });
  });

  it('IOTLB_REG with AM beyond MAMV does nothing and reports IAIG 0', async () => {
    const { vtd, drv, sid } = await stale();
    expect(drv.iotlbRegister(3, 7, 0n, 19)).toBe(0);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x20_0000n });
  });

  it('CCMD device-selective invalidation drops the cached context entry and reports CAIG', async () => {
    const { vtd, drv, guest, sid } = await legacySetup();
    drv.setRootTable(guest.root(), false);
    drv.enableTranslation();
    vtd.translate({ sid, iova: 0x1000n });
    guest.legacyDevice(sid, { present: false });
    expect(vtd.translate({ sid, iova: 0x3000n })).toMatchObject({ fault: { reason: 0x6 } }); // context still cached: walk reaches the table
    expect(drv.ccmd(3, 0, sid)).toBe(3);
    expect(vtd.translate({ sid, iova: 0x3000n })).toMatchObject({ fault: { reason: 0x2 } });
  });

  it('register-based invalidation is ignored while queued invalidation is enabled', async () => {
    const { vtd, drv, sid } = await stale();
    drv.enableQueue();
    expect(drv.iotlbRegister(1)).toBe(-1); // IVT stays set: nothing happened
    expect(drv.ccmd(1)).toBe(-1);
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ address: 0x20_0000n });
  });

  it('IOTLB_REG hooks report the register source', async () => {
    const { vtd, drv } = await stale();
    const seen: unknown[] = [];
    vtd.mmio.hooks.iotlbInvalidated = (i) => void seen.push(i);
    drv.iotlbRegister(2, 7);
    expect(seen).toEqual([{ granularity: 'domain', did: 7, addr: 0n, am: 0, ih: false, source: 'register' }]);
    expect(drv.rd64(Reg.IOTLB) & IotlbReg.IVT).toBe(0n);
    expect(drv.rd64(Reg.CCMD) & Ccmd.ICC).toBe(0n);
  });
});
