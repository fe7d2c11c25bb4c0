/**
 * SimIommufd data path: device DMA through nested (guest stage 1 walked by the WASM
 * first-stage walker over guest memory, then the nest parent's IOAS as stage 2), paging (the
 * IOAS) and blocked attachments; stage-1 faults, stage-2 misses, the S1 flags (SRE, WPE, EAFE)
 * and address width as intel_pasid_setup_nested programs them (§10.3), and the batch form.
 * (Digest: /work/shared/reference/linux-iommufd.md)
 */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT as NP, IOMMU_HWPT_ALLOC_PASID as PASID, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED,
  IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_WPE, SimIommufd,
} from '../src/backend/index.js';
import { FaultReason, FsPte, GuestBuilder, type FirstStageTable, Vtd, VtdArgumentError } from '../src/index.js';

const RAM = 32n << 20n; // guest RAM [0, 32 MiB)
const HOST_BASE = 0x40_0000_0000n; // the IOAS maps GPA g to host HOST_BASE + g
const IOVA = 0x7f00_0000_0000n;

let vtd: Vtd;
let guest: GuestBuilder;
let sim: SimIommufd;
let dev: number;
let ioas: number;
let parent: number;

async function freshVtd(): Promise<Vtd> {
  vtd ??= await Vtd.create({ memory: { size: Number(RAM) } });
  vtd.memory.fill(0n, Number(RAM), 0);
  return vtd;
}

beforeEach(async () => {
  await freshVtd();
  guest = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 8n << 20n }]);
  sim = new SimIommufd({ vtd });
  dev = sim.addDevice();
  ioas = sim.allocIoas();
  sim.ioasMap(ioas, 0n, RAM, HOST_BASE, R | W | FIXED);
  parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP | PASID });
});

function nested(pt: FirstStageTable, flags = 0, extra: { pasid?: boolean; addrWidth?: number; pgtblAddr?: bigint } = {}): number {
  return sim.allocHwpt({
    devId: dev, ptId: parent, flags: extra.pasid ? PASID : 0,
    data: { flags, pgtblAddr: extra.pgtblAddr ?? pt.root, addrWidth: extra.addrWidth ?? (pt.levels === 5 ? 57 : 48) },
  });
}

describe('DMA through a nested HWPT (stage 1 = guest tables, stage 2 = IOAS)', () => {
  it('translates IOVA -> GPA through the guest tables, then GPA -> host through the IOAS', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt));
    const r = sim.dma(dev, undefined, IOVA + 0x123n, 'r');
    expect(r).toEqual({ ok: true, address: HOST_BASE + 0x20_0123n, gpa: 0x20_0123n, hwptId: sim.attachedHwpt(dev) });
  });

  it('sets A on the way and D on a write in the guest\'s tables, as the hardware walk does', () => {
    const pt = guest.firstStage({ levels: 4 });
    const leaf = pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt));
    expect(vtd.memory.readU64(leaf) & (FsPte.A | FsPte.D)).toBe(0n);
    sim.dma(dev, undefined, IOVA, 'w');
    expect(vtd.memory.readU64(leaf) & (FsPte.A | FsPte.D)).toBe(FsPte.A | FsPte.D);
  });

  it('a stage-1 fault comes back as a value: not present at level 4', () => {
    const pt = guest.firstStage({ levels: 4 });
    const h = nested(pt);
    sim.attach(dev, h);
    expect(sim.dma(dev, undefined, 0x1000n, 'r')).toEqual({
      ok: false, fault: { stage: 1, reason: 'FS_ENTRY_P', code: FaultReason.FS_ENTRY_P, level: 4, address: 0x1000n, hwptId: h },
    });
  });

  it('a stage-1 write to a read-only leaf -> SM_WRITE; a non-canonical IOVA -> FS_NON_CANONICAL', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n, { write: false });
    sim.attach(dev, nested(pt));
    expect(sim.dma(dev, undefined, IOVA, 'r').ok).toBe(true);
    expect(sim.dma(dev, undefined, IOVA, 'w')).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.SM_WRITE, level: 1 } });
    expect(sim.dma(dev, undefined, 1n << 50n, 'r')).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.FS_NON_CANONICAL } });
  });

  it('a stage-2 miss: the guest maps to a GPA the IOAS does not map', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, RAM + 0x10_0000n); // beyond guest RAM, and beyond the IOAS mapping
    const h = nested(pt);
    sim.attach(dev, h);
    expect(sim.dma(dev, undefined, IOVA + 8n, 'r')).toEqual({
      ok: false, fault: { stage: 2, reason: 'not mapped', address: RAM + 0x10_0008n, hwptId: h },
    });
  });

  it('an IOAS unmap of the target GPA turns a working translation into a stage-2 miss', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt));
    expect(sim.dma(dev, undefined, IOVA, 'r').ok).toBe(true);
    sim.ioasUnmap(ioas, 0n, RAM);
    sim.ioasMap(ioas, 0n, 0x20_0000n, HOST_BASE, R | W | FIXED); // [0, 2 MiB) only: the target is gone
    expect(sim.dma(dev, undefined, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 2, reason: 'not mapped', address: 0x20_0000n } });
  });

  it('SRE: a supervisor request needs SRE (SM_PASID_ENTRY_SRE without it)', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n, { user: false });
    const plain = nested(pt);
    const sre = nested(pt, IOMMU_VTD_S1_SRE);
    sim.attach(dev, plain);
    expect(sim.dma(dev, undefined, IOVA, 'r', { priv: true })).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.SM_PASID_ENTRY_SRE } });
    expect(sim.dma(dev, undefined, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.FS_US } });
    sim.replace(dev, sre);
    expect(sim.dma(dev, undefined, IOVA, 'r', { priv: true }).ok).toBe(true);
  });

  it('WPE: a supervisor write to a read-only page faults only with WPE (and WPE counts only with SRE)', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n, { write: false });
    sim.attach(dev, nested(pt, IOMMU_VTD_S1_SRE));
    expect(sim.dma(dev, undefined, IOVA, 'w', { priv: true }).ok).toBe(true);
    sim.replace(dev, nested(pt, IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_WPE));
    expect(sim.dma(dev, undefined, IOVA, 'w', { priv: true })).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.SM_WRITE } });
  });

  it('EAFE: the walk sets the extended-accessed bit only with EAFE', () => {
    const pt = guest.firstStage({ levels: 4 });
    const leaf = pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt));
    sim.dma(dev, undefined, IOVA, 'r');
    expect(vtd.memory.readU64(leaf) & FsPte.EA).toBe(0n);
    sim.replace(dev, nested(pt, IOMMU_VTD_S1_EAFE));
    sim.dma(dev, undefined, IOVA, 'r');
    expect(vtd.memory.readU64(leaf) & FsPte.EA).toBe(FsPte.EA);
  });

  it('execute requests fault: the nested PASID entry never sets ERE', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt));
    expect(sim.dma(dev, undefined, IOVA, 'r', { exec: true })).toMatchObject({ ok: false, fault: { stage: 1, code: FaultReason.SM_PASID_ENTRY_ERE } });
  });

  it('addr_width 57 walks 5 levels; the low 12 bits of pgtbl_addr are dropped', () => {
    const pt = guest.firstStage({ levels: 5 });
    const iova = 0x00ff_0000_0000_0000n;
    pt.map(iova, 0x40_0000n, { size: 2 << 20 });
    sim.attach(dev, nested(pt, 0, { pgtblAddr: pt.root | 0xabcn }));
    expect(sim.dma(dev, undefined, iova + 0x1_2345n, 'r')).toMatchObject({ ok: true, address: HOST_BASE + 0x41_2345n });
  });

  it('a PASID attachment carries that PASID\'s requests only', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n);
    sim.attach(dev, nested(pt, 0, { pasid: true }), 5);
    expect(sim.dma(dev, 5, IOVA, 'r').ok).toBe(true);
    expect(sim.dma(dev, 6, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'blocked' } });
    expect(sim.dma(dev, undefined, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'blocked' } });
    expect(sim.dma(dev, 1 << 20, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'PASID out of range' } });
  });

  it('the guest tables are read live: the simulation keeps no IOTLB, so a table change shows at once', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n);
    const h = nested(pt);
    sim.attach(dev, h);
    expect(sim.dma(dev, undefined, IOVA, 'r').ok).toBe(true);
    pt.unmap(IOVA);
    expect(sim.dma(dev, undefined, IOVA, 'r').ok).toBe(false);
    expect(sim.invalidateHwpt(h, [{ addr: IOVA, npages: 1n }])).toBe(1);
  });
});

describe('DMA through paging and blocked attachments', () => {
  it('a paging HWPT translates through the IOAS mapping', () => {
    const d = sim.addDevice();
    const io = sim.allocIoas();
    sim.ioasMap(io, 0x1000_0000n, 0x4000n, 0x5_0000_0000n, R | W | FIXED);
    sim.attach(d, io);
    expect(sim.dma(d, undefined, 0x1000_2abcn, 'w')).toMatchObject({ ok: true, address: 0x5_0000_2abcn });
    expect(sim.dma(d, undefined, 0x1000_4000n, 'r')).toMatchObject({ ok: false, fault: { stage: 2, reason: 'not mapped', address: 0x1000_4000n } });
  });

  it('the IOAS permissions apply: a write to a read-only mapping, a read of a write-only one', () => {
    const d = sim.addDevice();
    const io = sim.allocIoas();
    sim.ioasMap(io, 0x1000_0000n, 0x1000n, undefined, R | FIXED);
    sim.ioasMap(io, 0x2000_0000n, 0x1000n, undefined, W | FIXED);
    sim.attach(d, io);
    expect(sim.dma(d, undefined, 0x1000_0000n, 'r')).toMatchObject({ ok: true, address: 0x1000_0000n });
    expect(sim.dma(d, undefined, 0x1000_0000n, 'w')).toMatchObject({ ok: false, fault: { stage: 2, reason: 'write not permitted' } });
    expect(sim.dma(d, undefined, 0x2000_0000n, 'r')).toMatchObject({ ok: false, fault: { stage: 2, reason: 'read not permitted' } });
  });

  it('the parent itself on the RID (pass-through of the guest: GPA = IOVA)', () => {
    sim.attach(dev, parent);
    expect(sim.dma(dev, undefined, 0x12_3456n, 'r')).toMatchObject({ ok: true, address: HOST_BASE + 0x12_3456n });
  });

  it('blocked: nothing attached, or detached again', () => {
    expect(sim.dma(dev, undefined, 0x1000n, 'r')).toEqual({ ok: false, fault: { stage: 0, reason: 'blocked', address: 0x1000n } });
    sim.attach(dev, parent);
    sim.detach(dev);
    expect(sim.dma(dev, undefined, 0x1000n, 'w')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'blocked' } });
    expect(sim.stats().dma).toEqual({ requests: 2, faults: 2 });
  });
});

describe('batch DMA and the default walker', () => {
  it('dmaBatch gives the same answers as one dma per request', () => {
    const pt = guest.firstStage({ levels: 4 });
    for (let i = 0n; i < 8n; i++) pt.map(IOVA + i * 0x1000n, 0x20_0000n + i * 0x3000n);
    sim.attach(dev, nested(pt));
    const iovas = new BigUint64Array(32).map((_, i) => IOVA + BigInt(i) * 0x800n + 8n);
    const batch = sim.dmaBatch(dev, undefined, iovas, 'r');
    let faults = 0;
    iovas.forEach((iova, i) => {
      const one = sim.dma(dev, undefined, iova, 'r');
      expect(batch.ok[i]).toBe(one.ok ? 1 : 0);
      expect(batch.address[i]).toBe(one.ok ? one.address : 0n);
      if (!one.ok) faults++;
    });
    expect(batch.faults).toBe(faults);
    expect(faults).toBe(16);
  });

  it('without a walker, { guestMemory } uses the reference walker: same results as the WASM one', () => {
    const pt = guest.firstStage({ levels: 4 });
    pt.map(IOVA, 0x20_0000n, { write: false });
    pt.map(IOVA + 0x20_0000n, 0x40_0000n, { size: 2 << 20 });
    const ref = new SimIommufd({ guestMemory: vtd.memory });
    const rdev = ref.addDevice();
    const rioas = ref.allocIoas();
    ref.ioasMap(rioas, 0n, RAM, HOST_BASE, R | W | FIXED);
    const rparent = ref.allocHwpt({ devId: rdev, ptId: rioas, flags: NP });
    ref.attach(rdev, ref.allocHwpt({ devId: rdev, ptId: rparent, data: { flags: 0, pgtblAddr: pt.root, addrWidth: 48 } }));
    sim.attach(dev, nested(pt));
    for (const [iova, access] of [[IOVA, 'r'], [IOVA, 'w'], [IOVA + 0x20_1234n, 'w'], [0x1000n, 'r'], [1n << 60n, 'r']] as const) {
      const a = sim.dma(dev, undefined, iova, access);
      const b = ref.dma(rdev, undefined, iova, access);
      expect(b.ok ? { ...b, hwptId: 0 } : { ...b, fault: { ...b.fault, hwptId: 0 } }).toEqual(
        a.ok ? { ...a, hwptId: 0 } : { ...a, fault: { ...a.fault, hwptId: 0 } },
      );
    }
  });

  it('a nested HWPT without any walker configured is a configuration error, not a fault', () => {
    const bare = new SimIommufd();
    const d = bare.addDevice();
    const p = bare.allocHwpt({ devId: d, ptId: bare.allocIoas(), flags: NP });
    bare.attach(d, bare.allocHwpt({ devId: d, ptId: p, data: { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 } }));
    expect(() => bare.dma(d, undefined, 0n, 'r')).toThrow(/first-stage walker/);
  });
});

describe('dmaBatch argument checks', () => {
  it('an IOVA that is not a u64 is a VtdArgumentError, as for dma()', async () => {
    const vtd = await Vtd.create({ memory: { size: 1 << 20 } });
    const sim = new SimIommufd({ vtd });
    const dev = sim.addDevice();
    expect(() => sim.dma(dev, undefined, -1n, 'r')).toThrow(VtdArgumentError);
    expect(() => sim.dmaBatch(dev, undefined, [-1n], 'r')).toThrow(VtdArgumentError);
    expect(() => sim.dmaBatch(dev, undefined, [1n << 64n], 'r')).toThrow(VtdArgumentError);
  });
});
