/**
 * Primary fault logging: what a faulted DMA request leaves in the fault-recording registers
 * and FSTS, fault events, collapse of repeated faults from one source-id, overflow, servicing
 * (F and PFO write-1-to-clear), FPD suppression of qualified faults only, batch requests, and
 * vtd.faults().
 */
import { describe, expect, it } from 'vitest';
import {
  EventCtl, FaultReason as FR, Frcd, Fsts, GuestBuilder, QUALIFIED_FAULTS, Reg, type VtdOptions,
} from '../src/index.js';
import { createUnit, GuestDriver } from './support/viommu-driver.js';

const RAM = [{ base: 0x10_0000n, size: 16n << 20n }];
const FE_ADDR = 0x1_fee0_0000n, FE_DATA = 0x4321;

/** Scalable unit, fault events unmasked; device 00:03.0 with a first-stage table (PASID 0 and 5). */
async function setup(options: VtdOptions = {}) {
  const u = await createUnit(options);
  const guest = new GuestBuilder(u.vtd.memory, RAM);
  const fs = guest.firstStage();
  fs.map(0x1000n, 0x20_0000n);
  const sid = 0x18;
  guest.scalableDevice(sid);
  guest.pasidEntry(sid, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root });
  guest.pasidEntry(sid, 5, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, sre: true, ere: true });
  const drv = new GuestDriver(u.vtd, guest.alloc);
  drv.programFaultEvent(FE_ADDR, FE_DATA);
  drv.setRootTable(guest.root(), true);
  drv.enableTranslation();
  return { ...u, guest, fs, sid, drv };
}

const hi = (drv: GuestDriver, i: number) => drv.rd64(Reg.FRCD + 16 * i + 8);
const lo = (drv: GuestDriver, i: number) => drv.rd64(Reg.FRCD + 16 * i);
const fsts = (drv: GuestDriver) => drv.rd32(Reg.FSTS);
/** Clear record i's F bit the way Linux does: write the F bit back to the upper dword. */
const clearF = (drv: GuestDriver, i: number) => drv.wr32(Reg.FRCD + 16 * i + 12, 0x8000_0000);

describe('fault record contents', () => {
  it('records FI, SID, FR and T = 1 (read) for a read without PASID', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x7123n });
    expect(lo(drv, 0)).toBe(0x7000n);
    expect(hi(drv, 0)).toBe(Frcd.F | Frcd.T1 | (BigInt(FR.FS_ENTRY_P) << 32n) | BigInt(sid));
  });

  it('a write leaves T = 0', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x7000n, write: true });
    expect(hi(drv, 0) & Frcd.T1).toBe(0n);
  });

  it('a request with PASID sets PP and the 20-bit PV', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, pasid: 0xabcde, iova: 0x7000n });
    const h = hi(drv, 0);
    expect(h & Frcd.PP).not.toBe(0n);
    expect(Number((h >> 40n) & 0xfffffn)).toBe(0xabcde);
    expect(Number((h >> 32n) & 0xffn)).toBe(FR.SM_PASID_DIR_ENTRY_P);
  });

  it('a request without PASID leaves PP and PV clear (QEMU: PP = 1, PV = 0)', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    expect(hi(drv, 0) & (Frcd.PP | (0xfffffn << 40n))).toBe(0n);
  });

  it('EXE and PRIV record an execute / supervisor request with PASID', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, pasid: 5, iova: 0x7000n, exec: true, priv: true });
    expect(hi(drv, 0) & (Frcd.EXE | Frcd.PRIV)).toBe(Frcd.EXE | Frcd.PRIV);
  });

  it('AT is 0 (untranslated request)', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    expect((hi(drv, 0) >> 60n) & 3n).toBe(0n);
  });

  it('the first fault sets PPF with FRI = its record', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    expect(fsts(drv)).toBe(Fsts.PPF);
  });

  it('a faulting translateBatch request is recorded like a single one', async () => {
    const { vtd, drv, sid } = await setup();
    const b = vtd.createBatch(3);
    b.sid.set([sid, sid, sid]);
    b.pasid.set([0xffff_ffff, 0xffff_ffff, 0xabcde]);
    b.iova.set([0x1000n, 0x1000n, 0x9000n]);
    b.flags.set([0, 0, 1]);
    expect(vtd.translateBatch(b, 3)).toBe(1);
    expect(lo(drv, 0)).toBe(0x9000n);
    expect(hi(drv, 0)).toBe(Frcd.F | Frcd.PP | (0xabcden << 40n) | (BigInt(FR.SM_PASID_DIR_ENTRY_P) << 32n) | BigInt(sid));
  });

  it('a successful translation records nothing', async () => {
    const { vtd, drv, sid } = await setup();
    vtd.translate({ sid, iova: 0x1000n });
    expect([fsts(drv), hi(drv, 0)]).toEqual([0, 0n]);
  });

  it('the bare first-stage walk is not a DMA request: its faults are not recorded', async () => {
    const { vtd, drv, fs } = await setup();
    expect(vtd.firstStageWalk({ root: fs.root, levels: 4, iova: 0x7000n }).ok).toBe(false);
    expect(fsts(drv)).toBe(0);
  });

  it('with translation disabled there is nothing to record', async () => {
    const { vtd, drv } = await setup();
    drv.enableTranslation(false);
    vtd.translate({ sid: 0x700, iova: 0n });
    expect(fsts(drv)).toBe(0);
  });
});

describe('fault events', () => {
  it('the first recorded fault sends the fault event (FEUADDR:FEADDR, FEDATA) and leaves IP clear', async () => {
    const { vtd, drv, sid, irqs } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    expect(irqs).toEqual([{ address: FE_ADDR, data: FE_DATA }]);
    expect(drv.rd32(Reg.FECTL)).toBe(0);
  });

  it('a further fault while PPF is set raises no event', async () => {
    const { vtd, sid, irqs } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    vtd.translate({ sid: 0x20, iova: 0x7000n });
    expect(irqs).toHaveLength(1);
  });

  it('a masked fault event sets FECTL.IP; clearing IM sends it', async () => {
    const { vtd, drv, sid, irqs } = await setup();
    drv.wr32(Reg.FECTL, EventCtl.IM);
    vtd.translate({ sid, iova: 0x7000n });
    expect([irqs.length, drv.rd32(Reg.FECTL)]).toEqual([0, EventCtl.IM + EventCtl.IP]);
    drv.wr32(Reg.FECTL, 0);
    expect(irqs).toEqual([{ address: FE_ADDR, data: FE_DATA }]);
    expect(drv.rd32(Reg.FECTL)).toBe(0);
  });

  it('servicing every record clears PPF and a pending IP', async () => {
    const { vtd, drv, sid } = await setup();
    drv.wr32(Reg.FECTL, EventCtl.IM);
    vtd.translate({ sid, iova: 0x7000n });
    vtd.translate({ sid: 0x20, iova: 0x7000n });
    clearF(drv, 0);
    expect(fsts(drv) & Fsts.PPF).not.toBe(0);
    clearF(drv, 1);
    expect(fsts(drv) & Fsts.PPF).toBe(0);
    expect(drv.rd32(Reg.FECTL)).toBe(EventCtl.IM);
  });

  it('after servicing, the next fault is a new event with FRI at its record', async () => {
    const { vtd, drv, sid, irqs } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    clearF(drv, 0);
    vtd.translate({ sid, iova: 0x8000n });
    expect(irqs).toHaveLength(2);
    expect(fsts(drv)).toBe(Fsts.PPF | (1 << 8));
  });
});

describe('collapse and overflow', () => {
  it('repeated faults from the same source-id collapse into the pending record', async () => {
    const { vtd, drv, sid, traces } = await setup();
    vtd.translate({ sid, iova: 0x7000n });
    vtd.translate({ sid, iova: 0x8000n, write: true });
    expect(lo(drv, 0)).toBe(0x7000n);
    expect(hi(drv, 1)).toBe(0n);
    expect(fsts(drv) & Fsts.PFO).toBe(0);
    expect(traces.some((t) => t.name === 'vtd_fault_collapsed')).toBe(true);
  });

  it('faults from different source-ids fill the records in order', async () => {
    const { vtd, drv } = await setup({ faultRecords: 3 });
    for (const s of [0x100, 0x200, 0x300]) vtd.translate({ sid: s, iova: 0n });
    expect([0, 1, 2].map((i) => Number(hi(drv, i) & 0xffffn))).toEqual([0x100, 0x200, 0x300]);
  });

  it('a fault when the next record is still pending sets PFO and is lost', async () => {
    const { vtd, drv } = await setup({ faultRecords: 2 });
    for (const s of [0x100, 0x200, 0x300]) vtd.translate({ sid: s, iova: 0n });
    expect(fsts(drv) & Fsts.PFO).not.toBe(0);
    expect(vtd.faults().map((f) => f.sid)).toEqual([0x100, 0x200]);
  });

  it('overflow is judged on the next record, not on any free one (round-robin)', async () => {
    const { vtd, drv } = await setup({ faultRecords: 2 });
    vtd.translate({ sid: 0x100, iova: 0n }); // record 0
    vtd.translate({ sid: 0x200, iova: 0n }); // record 1; next is 0
    clearF(drv, 1);
    vtd.translate({ sid: 0x300, iova: 0n }); // record 0 still pending: overflow
    expect(fsts(drv) & Fsts.PFO).not.toBe(0);
  });

  it('while PFO is set nothing is recorded, even into free records', async () => {
    const { vtd, drv } = await setup({ faultRecords: 1 });
    vtd.translate({ sid: 0x100, iova: 0n });
    vtd.translate({ sid: 0x200, iova: 0n }); // overflow
    clearF(drv, 0);
    vtd.translate({ sid: 0x300, iova: 0n });
    expect(hi(drv, 0) & Frcd.F).toBe(0n);
  });

  it('clearing PFO lets faults be recorded again', async () => {
    const { vtd, drv } = await setup({ faultRecords: 1 });
    vtd.translate({ sid: 0x100, iova: 0n });
    vtd.translate({ sid: 0x200, iova: 0n });
    clearF(drv, 0);
    drv.wr32(Reg.FSTS, Fsts.PFO);
    vtd.translate({ sid: 0x300, iova: 0n });
    expect(Number(hi(drv, 0) & 0xffffn)).toBe(0x300);
  });

  it('clearing PFO with nothing else pending clears FECTL.IP', async () => {
    const { vtd, drv } = await setup({ faultRecords: 1 });
    drv.wr32(Reg.FECTL, EventCtl.IM);
    vtd.translate({ sid: 0x100, iova: 0n });
    vtd.translate({ sid: 0x200, iova: 0n });
    clearF(drv, 0);
    expect(drv.rd32(Reg.FECTL)).toBe(EventCtl.IM + EventCtl.IP);
    drv.wr32(Reg.FSTS, Fsts.PFO);
    expect(drv.rd32(Reg.FECTL)).toBe(EventCtl.IM);
  });

  it('a batch of many faults overflows without scanning past PFO', async () => {
    const { vtd, drv } = await setup({ faultRecords: 4 });
    const n = 10_000;
    const b = vtd.createBatch(n);
    for (let i = 0; i < n; i++) b.sid[i] = 0x100 + i;
    b.pasid.fill(0xffff_ffff);
    expect(vtd.translateBatch(b, n)).toBe(n);
    expect(vtd.faults().map((f) => f.sid)).toEqual([0x100, 0x101, 0x102, 0x103]);
    expect(fsts(drv) & Fsts.PFO).not.toBe(0);
  });

  it('a TE change restarts the record index at 0', async () => {
    const { vtd, drv } = await setup({ faultRecords: 4 });
    vtd.translate({ sid: 0x100, iova: 0n });
    clearF(drv, 0);
    drv.enableTranslation(false);
    drv.enableTranslation(true);
    vtd.translate({ sid: 0x200, iova: 0n });
    expect(Number(hi(drv, 0) & 0xffffn)).toBe(0x200);
  });
});

describe('fault processing disable (FPD)', () => {
  it('the qualified-fault table leaves out root, structure-access and TTM errors only', () => {
    for (const r of [FR.ROOT_ENTRY_P, FR.ROOT_TABLE_INV, FR.CONTEXT_TABLE_INV, FR.ROOT_ENTRY_RSVD, FR.CONTEXT_ENTRY_RSVD,
      FR.SM_RTADDR_INV, FR.SM_TTM_LEGACY_WITH_PASID, FR.SM_ROOT_ENTRY_ACCESS, FR.SM_ROOT_ENTRY_P, FR.SM_ROOT_ENTRY_RSVD,
      FR.SM_CONTEXT_ENTRY_ACCESS, FR.SM_CONTEXT_ENTRY_RSVD, FR.SM_PASID_DIR_ACCESS, FR.SM_PASID_ENTRY_ACCESS]) {
      expect([r, QUALIFIED_FAULTS.has(r)]).toEqual([r, false]);
    }
    for (const r of [FR.CONTEXT_ENTRY_P, FR.WRITE, FR.READ, FR.PAGING_ENTRY_RSVD, FR.SM_CONTEXT_ENTRY_P, FR.SM_CONTEXT_PASIDE,
      FR.SM_PASID_DIR_ENTRY_P, FR.SM_PASID_ENTRY_P, FR.SM_PASID_ENTRY_INV, FR.FS_ENTRY_P, FR.FS_US, FR.SS_ENTRY_RSVD,
      FR.SM_WRITE, FR.SM_READ, FR.SM_INTERRUPT_ADDR, FR.FS_NON_CANONICAL]) {
      expect([r, QUALIFIED_FAULTS.has(r)]).toEqual([r, true]);
    }
  });

  it('PASID-entry FPD suppresses a qualified fault (and traces vtd_fault_disabled)', async () => {
    const { vtd, drv, guest, fs, sid, traces, irqs } = await setup();
    guest.pasidEntry(sid, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, fpd: true });
    vtd.translate({ sid, iova: 0x7000n });
    expect([fsts(drv), hi(drv, 0), irqs.length]).toEqual([0, 0n, 0]);
    expect(traces).toContainEqual({ name: 'vtd_fault_disabled', args: { sid, fault: FR.FS_ENTRY_P } });
  });

  it('scalable context-entry FPD suppresses a qualified fault', async () => {
    const { vtd, drv, guest, fs, sid } = await setup();
    guest.scalableDevice(sid, { fpd: true });
    guest.pasidEntry(sid, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root });
    vtd.translate({ sid, iova: 0x7000n });
    expect(fsts(drv)).toBe(0);
  });

  it('PASID-directory FPD suppresses a non-present PASID entry fault (FPD is read whatever P)', async () => {
    const { vtd, drv, guest, sid } = await setup();
    const de = guest.scalableDevice(sid).pasidDir;
    vtd.memory.writeU64(de, 2n); // directory entry: FPD, not present
    vtd.translate({ sid, iova: 0x7000n });
    expect(fsts(drv)).toBe(0);
  });

  it('a non-present context entry with FPD set is suppressed (FPD is read whatever P)', async () => {
    const { vtd, drv, guest, sid } = await setup();
    guest.scalableDevice(sid, { present: false, fpd: true });
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ fault: { reason: FR.SM_CONTEXT_ENTRY_P } });
    expect(fsts(drv)).toBe(0);
  });

  it('FPD does not suppress a fault that is not qualified', async () => {
    const { vtd, drv, guest, sid } = await setup();
    const dev = guest.scalableDevice(sid, { fpd: true });
    vtd.memory.writeU64(dev.pasidDir, 0x7ff0_0000n | 1n); // PASID table outside guest RAM
    expect(vtd.translate({ sid, iova: 0x1000n })).toMatchObject({ fault: { reason: FR.SM_PASID_ENTRY_ACCESS } });
    expect(vtd.faults().map((f) => f.reason)).toEqual([FR.SM_PASID_ENTRY_ACCESS]);
  });

  it('legacy context-entry FPD suppresses second-stage faults', async () => {
    const u = await createUnit();
    const guest = new GuestBuilder(u.vtd.memory, RAM);
    const ss = guest.secondStage({ aw: 2 });
    guest.legacyDevice(0x18, { ssptptr: ss.root, aw: 2, did: 3, fpd: true });
    u.vtd.setRootTable(guest.root(), { scalable: false });
    expect(u.vtd.translate({ sid: 0x18, iova: 0x5000n })).toMatchObject({ fault: { reason: FR.READ } });
    expect(u.vtd.mmio.read(Reg.FSTS, 4)).toBe(0n);
  });

  it('FPD in a batch (faultInfo bit 7) suppresses qualified faults too', async () => {
    const { vtd, drv, guest, fs, sid } = await setup();
    guest.pasidEntry(sid, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, fpd: true });
    const b = vtd.createBatch(2);
    b.sid.set([sid, 0x700]);
    b.pasid.fill(0xffff_ffff);
    b.iova.set([0x7000n, 0n]);
    expect(vtd.translateBatch(b, 2)).toBe(2);
    expect(b.faultInfo[0]! & 0x80).toBe(0x80);
    expect(vtd.faults().map((f) => f.sid)).toEqual([0x700]);
    expect(fsts(drv) & Fsts.PPF).not.toBe(0);
  });
});

describe('vtd.faults()', () => {
  it('decodes the pending records oldest first', async () => {
    const { vtd, sid } = await setup({ faultRecords: 2 });
    vtd.translate({ sid: 0x100, iova: 0x5000n, write: true });
    vtd.translate({ sid, pasid: 5, iova: 0x6000n, exec: true });
    expect(vtd.faults()).toEqual([
      { index: 0, sid: 0x100, reason: FR.SM_ROOT_ENTRY_P, name: 'SM_ROOT_ENTRY_P', address: 0x5000n, write: true, exec: false, priv: false, addressType: 0 },
      { index: 1, sid, reason: FR.FS_ENTRY_P, name: 'FS_ENTRY_P', address: 0x6000n, pasid: 5, write: false, exec: true, priv: false, addressType: 0 },
    ]);
  });

  it('keeps recording order across the wrap of the record index', async () => {
    const { vtd, drv } = await setup({ faultRecords: 2 });
    vtd.translate({ sid: 0x100, iova: 0n });
    vtd.translate({ sid: 0x200, iova: 0n });
    clearF(drv, 0);
    vtd.translate({ sid: 0x300, iova: 0n }); // into record 0
    expect(vtd.faults().map((f) => [f.index, f.sid])).toEqual([[1, 0x200], [0, 0x300]]);
  });

  it('clear: services the records and PFO like a driver', async () => {
    const { vtd, drv } = await setup({ faultRecords: 1 });
    vtd.translate({ sid: 0x100, iova: 0n });
    vtd.translate({ sid: 0x200, iova: 0n });
    expect(vtd.faults({ clear: true })).toHaveLength(1);
    expect([vtd.faults(), fsts(drv) & (Fsts.PPF | Fsts.PFO)]).toEqual([[], 0]);
  });

  it('a reserved TTM fault (0x30) is recorded', async () => {
    const { vtd, drv } = await setup();
    drv.wr64(Reg.RTADDR, 3n << 10n);
    drv.wr32(Reg.GCMD, 0x8000_0000 | 0x4000_0000);
    vtd.translate({ sid: 0x42, iova: 0x1000n });
    expect(vtd.faults().map((f) => [f.sid, f.reason])).toEqual([[0x42, 0x30]]);
  });
});
