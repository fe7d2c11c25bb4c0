/**
 * SimIommufd attach / replace / detach (§6): the PASID attach matrix of the selftest
 * iommufd_device_pasid.pasid_attach (§11.4, has_pasid and no_pasid variants) with the PASID
 * rules of §6.3, reserved regions on RID attach (§6.2 step 4), auto-domain selection (§6.4),
 * Intel attach-time checks (§6.5), domain ids, and iommu groups.
 * (Digest: /work/shared/reference/linux-iommufd.md)
 */
import { describe, expect, it } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT as NP, IOMMU_HWPT_ALLOC_PASID as PASID,
  IOMMU_HWPT_FAULT_ID_VALID as FAULT, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R,
  IOMMU_IOAS_MAP_WRITEABLE as W, MSI_WINDOW, SimIommufd, type VtdS1Data,
} from '../src/backend/index.js';
import { expectFailsCleanly } from './support/backend.js';

const S1: VtdS1Data = { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 };



const reservedOf = (sim: SimIommufd, ioas: number) =>
  sim.state().ioas.find((i) => i.id === ioas)!.reserved.filter((r) => r.owner.startsWith('device'));

/** The selftest's pasid_attach fixture: parent, nested[0..1], an IOPF nested, and s2_hwpt. */
function pasidFixture(deviceOpts: Parameters<SimIommufd['addDevice']>[0] = {}) {
  const sim = new SimIommufd();
  const dev = sim.addDevice({ pri: true, ...deviceOpts });
  const ioas = sim.allocIoas();
  sim.attach(dev, ioas); // the mock device starts attached to the IOAS
  const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP });
  const nested0 = sim.allocHwpt({ devId: dev, ptId: parent, flags: PASID, data: S1 });
  const nested1 = sim.allocHwpt({ devId: dev, ptId: parent, flags: PASID, data: S1 });
  const fault = sim.allocFaultQueue();
  const iopf = sim.allocHwpt({ devId: dev, ptId: parent, flags: FAULT | PASID, faultId: fault, data: S1 });
  const s2 = sim.allocHwpt({ devId: dev, ptId: ioas, flags: PASID });
  return { sim, dev, ioas, parent, nested0, nested1, iopf, s2, fault };
}

describe('PASID attach matrix (§11.4 pasid_attach, has_pasid)', () => {
  it('1. detaching a never-attached pasid is a no-op', () => {
    const { sim, dev } = pasidFixture();
    const before = sim.state();
    sim.detach(dev, 100);
    expect(sim.state()).toEqual(before);
  });

  it('3. RID on the (non-compat) parent: attaching s2_hwpt on pasid 100 -> EINVAL', () => {
    const { sim, dev, parent, s2 } = pasidFixture();
    sim.replace(dev, parent);
    expectFailsCleanly(sim, () => sim.attach(dev, s2, 100), 'EINVAL');
  });

  it('4. RID on s2_hwpt (compat): pasid 100 -> nested[0] ok; then replacing the RID onto the parent -> EINVAL', () => {
    const { sim, dev, parent, nested0, s2 } = pasidFixture();
    sim.replace(dev, s2);
    sim.attach(dev, nested0, 100);
    expect(sim.attachedHwpt(dev, 100)).toBe(nested0);
    expectFailsCleanly(sim, () => sim.replace(dev, parent), 'EINVAL');
    // 5. detach pasid 100: it has no HWPT any more
    sim.detach(dev, 100);
    expect(sim.attachedHwpt(dev, 100)).toBeUndefined();
    sim.replace(dev, parent); // and now the RID may go to the parent
  });

  it('7. a non-compat parent, or an IOAS, on a pasid -> EINVAL, and the pasid stays empty', () => {
    const { sim, dev, ioas, parent, s2 } = pasidFixture();
    sim.replace(dev, s2);
    expectFailsCleanly(sim, () => sim.attach(dev, parent, 100), 'EINVAL');
    expectFailsCleanly(sim, () => sim.attach(dev, ioas, 100), 'EINVAL');
    expect(sim.attachedHwpt(dev, 100)).toBeUndefined();
  });

  it('8./9. attach never overwrites a pasid: a second attach -> EBUSY (replace is required)', () => {
    const { sim, dev, nested0, s2 } = pasidFixture();
    sim.replace(dev, s2);
    sim.attach(dev, s2, 100);
    expectFailsCleanly(sim, () => sim.attach(dev, nested0, 100), 'EBUSY');
    sim.detach(dev, 100);
    sim.attach(dev, nested0, 100);
    expectFailsCleanly(sim, () => sim.attach(dev, nested0, 100), 'EBUSY');
  });

  it('10. pasid 200: replace without attach -> EINVAL; replace with the IOAS -> EINVAL (old kept); nested[0], nested[1] ok', () => {
    const { sim, dev, ioas, nested0, nested1, s2 } = pasidFixture();
    sim.replace(dev, s2);
    expectFailsCleanly(sim, () => sim.replace(dev, s2, 200), 'EINVAL');
    sim.attach(dev, s2, 200);
    expectFailsCleanly(sim, () => sim.replace(dev, ioas, 200), 'EINVAL');
    expect(sim.attachedHwpt(dev, 200)).toBe(s2);
    expect(sim.replace(dev, nested0, 200)).toBe(nested0);
    expect(sim.replace(dev, nested1, 200)).toBe(nested1);
    expect(sim.attachedHwpt(dev, 200)).toBe(nested1);
  });

  it('11. pasid 1024: a replace failing inside the driver (ENOMEM) keeps the old HWPT', () => {
    const { sim, dev, nested0, s2 } = pasidFixture();
    sim.replace(dev, s2);
    sim.attach(dev, s2, 1024);
    sim.injectFault('driver.attach', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.replace(dev, nested0, 1024), 'ENOMEM');
    expect(sim.attachedHwpt(dev, 1024)).toBe(s2);
  });

  it('12. pasid 2048: the IOPF HWPT attaches (PRI device), then is replaced by s2_hwpt', () => {
    const { sim, dev, iopf, s2 } = pasidFixture();
    sim.replace(dev, s2);
    sim.attach(dev, iopf, 2048);
    sim.replace(dev, s2, 2048);
    expect(sim.attachedHwpt(dev, 2048)).toBe(s2);
  });

  it('13. clean-up: with the pasids detached the RID goes back to the IOAS and everything is destroyable', () => {
    const f = pasidFixture();
    f.sim.replace(f.dev, f.s2);
    f.sim.attach(f.dev, f.nested0, 100);
    f.sim.attach(f.dev, f.s2, 200);
    expectFailsCleanly(f.sim, () => f.sim.replace(f.dev, f.ioas), 'EINVAL'); // auto domains are never PASID-compatible
    f.sim.detach(f.dev, 100);
    f.sim.detach(f.dev, 200);
    f.sim.replace(f.dev, f.ioas);
    for (const id of [f.iopf, f.nested1, f.nested0, f.parent, f.s2]) f.sim.destroy(id);
    f.sim.closeFaultQueue(f.fault);
    f.sim.destroy(f.fault);
    f.sim.removeDevice(f.dev);
    f.sim.destroy(f.ioas);
    expect(f.sim.objects()).toEqual([]);
  });

  it('a pasid at or above the device\'s max_pasids -> EINVAL (iommu_attach_device_pasid)', () => {
    const { sim, dev, s2 } = pasidFixture({ pasidBits: 8 });
    sim.replace(dev, s2);
    expectFailsCleanly(sim, () => sim.attach(dev, s2, 256), 'EINVAL');
    sim.attach(dev, s2, 255);
  });

  it('the RID may be detached while PASIDs stay attached', () => {
    const { sim, dev, nested0, s2 } = pasidFixture();
    sim.replace(dev, s2);
    sim.attach(dev, nested0, 100);
    sim.detach(dev);
    expect(sim.attachedHwpt(dev)).toBeUndefined();
    expect(sim.attachedHwpt(dev, 100)).toBe(nested0);
    // a blocked RID counts as compatible
    sim.attach(dev, s2, 101);
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('a nested HWPT\'s pasid_compat is its own ALLOC_PASID flag, whatever its parent\'s', () => {
    const { sim, dev, parent, s2 } = pasidFixture();
    sim.replace(dev, s2);
    const noPasid = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectFailsCleanly(sim, () => sim.attach(dev, noPasid, 5), 'EINVAL');
  });
});

describe('PASID attach matrix (§11.4 pasid_attach, no_pasid variant)', () => {
  it('a compat nested HWPT works on the RID of a non-PASID device', () => {
    const { sim, dev, nested0 } = pasidFixture({ pasidBits: 0 });
    sim.replace(dev, nested0);
    expect(sim.attachedHwpt(dev)).toBe(nested0);
  });

  it('pasid attach with the parent, or with s2_hwpt while the RID is on the IOAS -> EINVAL (compat rules)', () => {
    const { sim, dev, parent, s2 } = pasidFixture({ pasidBits: 0 });
    expectFailsCleanly(sim, () => sim.attach(dev, parent, 100), 'EINVAL');
    expectFailsCleanly(sim, () => sim.attach(dev, s2, 100), 'EINVAL');
  });

  it('Linux 7.0: once the compat rules pass, a PASID attach on a device without PASID is accepted as a hardware no-op', () => {
    const { sim, dev, s2 } = pasidFixture({ pasidBits: 0 });
    sim.replace(dev, s2);
    sim.attach(dev, s2, 100); // upstream b3f6fcd8404f: devices with max_pasids = 0 are skipped
    expect(sim.attachedHwpt(dev, 100)).toBe(s2);
    expect(sim.dma(dev, 100, 0x1000n, 'r')).toEqual({ ok: false, fault: { stage: 0, reason: 'no PASID capability', address: 0x1000n } });
    expect(sim.state().units[0]!.dids.map((d) => d.holders)).toEqual([[`${dev}:0`]]); // no DID for the pasid
  });
});

describe('reserved regions on RID attach (§6.2 step 4)', () => {
  it('a RID attach reserves the MSI window in the IOAS; a PASID attach does not; detach removes it', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const h = sim.allocHwpt({ devId: dev, ptId: ioas, flags: PASID });
    sim.attach(dev, h, 9);
    expect(reservedOf(sim, ioas)).toEqual([]);
    sim.attach(dev, h);
    expect(reservedOf(sim, ioas)).toEqual([{ ...MSI_WINDOW, owner: `device ${dev}` }]);
    sim.detach(dev);
    expect(reservedOf(sim, ioas)).toEqual([]);
  });

  it('a nested HWPT on the RID reserves the MSI window in its parent\'s IOAS', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP });
    sim.attach(dev, sim.allocHwpt({ devId: dev, ptId: parent, data: S1 }));
    expect(reservedOf(sim, ioas)).toEqual([{ ...MSI_WINDOW, owner: `device ${dev}` }]);
  });

  it('RMRRs are reserved too; a mapping over one blocks the attach -> EADDRINUSE', () => {
    const sim = new SimIommufd();
    const rmrr = { start: 0x7000_0000n, last: 0x7000_ffffn };
    const dev = sim.addDevice({ rmrrs: [rmrr] });
    const ioas = sim.allocIoas();
    sim.ioasMap(ioas, 0x7000_8000n, 0x1000n, undefined, R | W | FIXED);
    const h = sim.allocHwpt({ devId: dev, ptId: ioas });
    expectFailsCleanly(sim, () => sim.attach(dev, h), 'EADDRINUSE');
    sim.ioasUnmap(ioas, 0x7000_8000n, 0x1000n);
    sim.attach(dev, h);
    expect(reservedOf(sim, ioas).map((r) => r.start)).toEqual([MSI_WINDOW.start, rmrr.start]);
  });

  it('replacing the RID onto another IOAS moves the reservations; onto the same IOAS leaves them', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const a = sim.allocIoas();
    const b = sim.allocIoas();
    const ha = sim.allocHwpt({ devId: dev, ptId: a, flags: NP });
    const ha2 = sim.allocHwpt({ devId: dev, ptId: ha, data: S1 });
    const hb = sim.allocHwpt({ devId: dev, ptId: b });
    sim.attach(dev, ha);
    sim.replace(dev, ha2);
    expect(reservedOf(sim, a)).toHaveLength(1);
    sim.replace(dev, hb);
    expect([reservedOf(sim, a), reservedOf(sim, b)]).toEqual([[], [{ ...MSI_WINDOW, owner: `device ${dev}` }]]);
  });

  it('a replace onto an IOAS whose mappings cover the MSI window -> EADDRINUSE, nothing changes', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const a = sim.allocIoas();
    const b = sim.allocIoas();
    sim.ioasMap(b, MSI_WINDOW.start, 0x1000n, undefined, R | W | FIXED);
    sim.attach(dev, a);
    expectFailsCleanly(sim, () => sim.replace(dev, b), 'EADDRINUSE');
  });
});

describe('auto domains and compatibility (§6.4, §6.5)', () => {
  it('a device whose unit is incompatible with the existing auto domain gets its own (EINVAL -> next)', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice();
    const b = sim.addDevice({ hwInfo: { smpwc: false, slads: false } }); // page-walk coherency differs
    const c = sim.addDevice();
    const ioas = sim.allocIoas();
    const autoA = sim.attach(a, ioas);
    const autoB = sim.attach(b, ioas);
    expect(autoB).not.toBe(autoA);
    expect(sim.attach(c, ioas)).toBe(autoA);
    expect(sim.objects().filter((o) => o.autoDomain).map((o) => o.id)).toEqual([autoA, autoB]);
  });

  it('manually allocated HWPTs are never picked for an IOAS attach', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const manual = sim.allocHwpt({ devId: dev, ptId: ioas });
    expect(sim.attach(dev, ioas)).not.toBe(manual);
  });

  it('an HWPT allocated for a cache-coherent device cannot go to a device whose unit lacks ECAP.SC -> EINVAL', () => {
    const sim = new SimIommufd();
    const coherent = sim.addDevice({ coherent: true });
    const plain = sim.addDevice({ coherent: false });
    const ioas = sim.allocIoas();
    const h = sim.allocHwpt({ devId: coherent, ptId: ioas, flags: NP });
    expectFailsCleanly(sim, () => sim.attach(plain, h), 'EINVAL');
    const h2 = sim.allocHwpt({ devId: plain, ptId: ioas, flags: NP });
    sim.attach(coherent, h2); // the other way round is fine
  });

  it('a first-stage HWPT on a unit without FLTS, or a nest parent on a unit without NEST -> EINVAL at attach', () => {
    const sim = new SimIommufd();
    const full = sim.addDevice();
    const noFs = sim.addDevice({ hwInfo: { flts: false } });
    const noNest = sim.addDevice({ hwInfo: { nest: false } });
    const ioas = sim.allocIoas();
    const fs = sim.allocHwpt({ devId: full, ptId: ioas });
    const parent = sim.allocHwpt({ devId: full, ptId: ioas, flags: NP });
    const nested = sim.allocHwpt({ devId: full, ptId: parent, data: S1 });
    expectFailsCleanly(sim, () => sim.attach(noFs, fs), 'EINVAL');
    expectFailsCleanly(sim, () => sim.attach(noNest, parent), 'EINVAL');
    expectFailsCleanly(sim, () => sim.attach(noNest, nested), 'EINVAL');
  });

  it('a unit without PASID support: no PASIDs to attach (max_pasids 0 -> a no-op in 7.0), GET_HW_INFO says 0', () => {
    const sim = new SimIommufd({ hostIommu: { pasid: false } });
    const dev = sim.addDevice();
    expect(sim.getHwInfo(dev).maxPasidLog2).toBe(0);
  });

  it('domain ids run out: the attach needing one more -> ENOSPC (domain_attach_iommu)', () => {
    const sim = new SimIommufd({ hostIommu: { nd: 0 } }); // 16 ids, 2..15 usable
    const ioas = sim.allocIoas();
    const devs = Array.from({ length: 15 }, () => sim.addDevice());
    const hwpts = devs.map((d) => sim.allocHwpt({ devId: d, ptId: ioas, flags: PASID }));
    for (let i = 0; i < 14; i++) sim.attach(devs[i]!, hwpts[i]!);
    expect(sim.stats().domainIds).toBe(14);
    expectFailsCleanly(sim, () => sim.attach(devs[14]!, hwpts[14]!), 'ENOSPC');
    sim.attach(devs[14]!, hwpts[0]!); // sharing a domain shares its id
    sim.attach(devs[0]!, hwpts[0]!, 7); // as does a PASID of the same domain
    sim.detach(devs[13]!);
    sim.detach(devs[14]!);
    sim.attach(devs[14]!, hwpts[14]!);
    expect(sim.state().units[0]!.dids.find((d) => d.hwptId === hwpts[14])?.did).toBe(15);
  });
});

describe('iommu groups (§6.2: attachment is per group and per pasid)', () => {
  it('devices of one group share the HWPT per pasid: another HWPT -> EINVAL; the same one -> ok', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice({ group: 'g' });
    const b = sim.addDevice({ group: 'g' });
    const ioas = sim.allocIoas();
    const x = sim.allocHwpt({ devId: a, ptId: ioas });
    const y = sim.allocHwpt({ devId: a, ptId: ioas });
    sim.attach(a, x);
    expectFailsCleanly(sim, () => sim.attach(b, y), 'EINVAL');
    sim.attach(b, x);
    expect(sim.objects().find((o) => o.id === x)?.users).toBe(3);
  });

  it('the group\'s first attach sets the domain on every device of the group; the last detach removes it', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice({ group: 'g' });
    const b = sim.addDevice({ group: 'g' });
    const ioas = sim.allocIoas();
    sim.ioasMap(ioas, 0x10_0000n, 0x1000n, 0x9_0000_0000n, R | W | FIXED);
    const x = sim.allocHwpt({ devId: a, ptId: ioas });
    sim.attach(a, x);
    expect(sim.dma(b, undefined, 0x10_0010n, 'r')).toMatchObject({ ok: true, address: 0x9_0000_0010n });
    sim.attach(b, x);
    sim.detach(a);
    expect(sim.dma(a, undefined, 0x10_0010n, 'r').ok).toBe(true);
    sim.detach(b);
    expect(sim.dma(a, undefined, 0x10_0010n, 'r')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'blocked' } });
  });

  it('replace moves every group device\'s reference to the new HWPT', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice({ group: 'g' });
    const b = sim.addDevice({ group: 'g' });
    const ioas = sim.allocIoas();
    const x = sim.allocHwpt({ devId: a, ptId: ioas });
    const y = sim.allocHwpt({ devId: a, ptId: ioas });
    sim.attach(a, x);
    sim.attach(b, x);
    sim.replace(a, y);
    expect(sim.objects().filter((o) => o.id === x || o.id === y).map((o) => o.users)).toEqual([1, 3]);
    expect(sim.attachedHwpt(b)).toBe(y);
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('binding into a group that already has attachments is refused (simulation limit) -> EBUSY', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice({ group: 'g' });
    sim.attach(a, sim.allocIoas());
    expectFailsCleanly(sim, () => sim.addDevice({ group: 'g' }), 'EBUSY');
  });
});

describe('VFIO bind', () => {
  it('a device without isolated MSI -> EPERM, unless allow_unsafe_interrupts', () => {
    const sim = new SimIommufd();
    expectFailsCleanly(sim, () => sim.addDevice({ isolatedMsi: false }), 'EPERM');
    new SimIommufd({ allowUnsafeInterrupts: true }).addDevice({ isolatedMsi: false });
  });
});
