/**
 * SimIommufd HWPT rules: IOMMU_HWPT_ALLOC (§5.2-§5.5, every row of the §5.5 table), the Intel
 * checks that only run at attach (§5.4), IOMMU_HWPT_INVALIDATE (§7, §11.3), IOMMU_GET_HW_INFO
 * (§4, §11.6 get_hw_info), dirty tracking (§11.5) and the SMMUv3-like flag rules (§5.3).
 * (Digest: /work/shared/reference/linux-iommufd.md)
 */
import { describe, expect, it } from 'vitest';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, IOMMU_HW_CAP_PCI_PASID_EXEC,
  IOMMU_HW_CAP_PCI_PASID_PRIV, IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING as DIRTY, IOMMU_HWPT_ALLOC_NEST_PARENT as NP, IOMMU_HWPT_ALLOC_PASID as PASID,
  IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_FAULT_ID_VALID as FAULT, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_VTD_INV_FLAGS_LEAF, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_WPE, SimIommufd, UnreadableUserData, vtdHostRegs,
  decodeHostCaps, type VtdS1Data,
} from '../src/backend/index.js';
import { expectErrno, expectFailsCleanly } from './support/backend.js';

const U64_MAX = (1n << 64n) - 1n;
const S1: VtdS1Data = { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 };



function setup(opts: ConstructorParameters<typeof SimIommufd>[0] = {}) {
  const sim = new SimIommufd(opts);
  const dev = sim.addDevice({ pri: true });
  const ioas = sim.allocIoas();
  const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP });
  return { sim, dev, ioas, parent };
}

function s1Bytes(d: { flags?: bigint; pgtblAddr?: bigint; addrWidth?: number; reserved?: number }, len = 24): Uint8Array {
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  if (len >= 8) dv.setBigUint64(0, d.flags ?? 0n, true);
  if (len >= 16) dv.setBigUint64(8, d.pgtblAddr ?? 0x1000n, true);
  if (len >= 20) dv.setUint32(16, d.addrWidth ?? 48, true);
  if (len >= 24) dv.setUint32(20, d.reserved ?? 0, true);
  return b;
}

describe('§5.5: selftest-confirmed negative cases of HWPT_ALLOC (alloc_hwpt_nested)', () => {
  it('dev_id = an IOAS id -> ENOENT', () => {
    const { sim, ioas } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: ioas, ptId: ioas }), 'ENOENT');
  });

  it('pt_id = a device id -> EINVAL', () => {
    const { sim, dev } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: dev }), 'EINVAL');
  });

  it('an unknown pt_id -> EINVAL, not ENOENT (iommufd_hwpt_alloc)', () => {
    const { sim, dev } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: 999 }), 'EINVAL');
  });

  it('NEST_PARENT | FAULT_ID_VALID -> EOPNOTSUPP', () => {
    const { sim, dev, ioas } = setup();
    const fault = sim.allocFaultQueue();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP | FAULT, faultId: fault }), 'EOPNOTSUPP');
  });

  it('nested with DATA_NONE and data -> EINVAL', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, dataType: IOMMU_HWPT_DATA_NONE, data: S1 }), 'EINVAL');
  });

  it('a data type without data -> EINVAL', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, dataType: IOMMU_HWPT_DATA_VTD_S1 }), 'EINVAL');
  });

  it('nested with an unknown data type -> EOPNOTSUPP (intel_iommu_domain_alloc_nested)', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, dataType: 0xdead, data: S1 }), 'EOPNOTSUPP');
  });

  it('nested with short data (and with long data) -> EINVAL: data_len must be exactly 24', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, data: s1Bytes({}, 16) }), 'EINVAL');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, data: s1Bytes({}, 32) }), 'EINVAL');
  });

  it('nested with a NULL data pointer -> EFAULT', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, data: new UnreadableUserData(24) }), 'EFAULT');
  });

  it('nested with the NEST_PARENT (or DIRTY_TRACKING) flag -> EOPNOTSUPP', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, flags: NP, data: S1 }), 'EOPNOTSUPP');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, flags: DIRTY, data: S1 }), 'EOPNOTSUPP');
  });

  it('nested without data -> EOPNOTSUPP (iommufd_hwpt_nested_alloc: !user_data->len)', () => {
    const { sim, dev, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent }), 'EOPNOTSUPP');
  });

  it('nested on a non-nest-parent -> EINVAL', () => {
    const { sim, dev, ioas } = setup();
    const plain = sim.allocHwpt({ devId: dev, ptId: ioas });
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: plain, data: S1 }), 'EINVAL');
  });

  it('nested on a nested HWPT -> EINVAL', () => {
    const { sim, dev, parent } = setup();
    const nested = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: nested, data: S1 }), 'EINVAL');
  });

  it('FAULT_ID_VALID with fault_id = UINT32_MAX -> ENOENT (the new HWPT is aborted)', () => {
    const { sim, dev, ioas, parent } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: parent, flags: FAULT, faultId: 0xffff_ffff, data: S1 }), 'ENOENT');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: FAULT, faultId: 0xffff_ffff }), 'ENOENT');
  });

  it('DESTROY of a parent that has nested children -> EBUSY', () => {
    const { sim, dev, parent } = setup();
    sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectFailsCleanly(sim, () => sim.destroy(parent), 'EBUSY');
  });
});

describe('HWPT_ALLOC on VT-d (§5.3, §5.4)', () => {
  it('two nested HWPTs on one parent, plus an IOPF nested HWPT', () => {
    const { sim, dev, parent } = setup();
    const fault = sim.allocFaultQueue();
    const ids = [
      sim.allocHwpt({ devId: dev, ptId: parent, data: S1 }),
      sim.allocHwpt({ devId: dev, ptId: parent, data: S1 }),
      sim.allocHwpt({ devId: dev, ptId: parent, flags: FAULT, faultId: fault, data: S1 }),
    ];
    expect(sim.objects().filter((o) => ids.includes(o.id)).map((o) => [o.type, o.parent])).toEqual(ids.map(() => ['hwpt_nested', parent]));
  });

  it('paging HWPTs are first stage unless NEST_PARENT or DIRTY_TRACKING force second stage', () => {
    const { sim, dev, ioas } = setup();
    const stage = (flags: number) => {
      const id = sim.allocHwpt({ devId: dev, ptId: ioas, flags });
      return sim.objects().find((o) => o.id === id)?.stage;
    };
    expect(stage(0)).toBe('first');
    expect(stage(PASID)).toBe('first');
    expect(stage(NP)).toBe('second');
    expect(stage(DIRTY)).toBe('second');
    expect(stage(NP | PASID)).toBe('second');
    expect(stage(NP | DIRTY | PASID)).toBe('second');
  });

  it('without ECAP.FLTS every paging HWPT is second stage', () => {
    const sim = new SimIommufd({ hostIommu: { flts: false } });
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const id = sim.allocHwpt({ devId: dev, ptId: ioas });
    expect(sim.objects().find((o) => o.id === id)?.stage).toBe('second');
  });

  it('paging HWPT with driver data -> EOPNOTSUPP', () => {
    const { sim, dev, ioas } = setup();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, data: S1 }), 'EOPNOTSUPP');
  });

  it('NEST_PARENT on a unit without ECAP.NEST -> EOPNOTSUPP; nested alloc for such a device -> EOPNOTSUPP', () => {
    const sim = new SimIommufd();
    const good = sim.addDevice();
    const noNest = sim.addDevice({ hwInfo: { nest: false } });
    const ioas = sim.allocIoas();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: noNest, ptId: ioas, flags: NP }), 'EOPNOTSUPP');
    const parent = sim.allocHwpt({ devId: good, ptId: ioas, flags: NP });
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: noNest, ptId: parent, data: S1 }), 'EOPNOTSUPP');
  });

  it('the S1 data is copied verbatim: unknown flag bits, __reserved and pgtbl_addr low bits are never checked', () => {
    const { sim, dev, parent } = setup();
    const id = sim.allocHwpt({ devId: dev, ptId: parent, data: s1Bytes({ flags: 0xf0n | 1n, pgtblAddr: 0x1234_5678n, addrWidth: 48, reserved: 7 }) });
    expect(sim.objects().find((o) => o.id === id)?.data).toEqual({ flags: 0xf1, pgtblAddr: 0x1234_5678n, addrWidth: 48, reserved: 7 });
    sim.attach(dev, id); // and attach does not mind either
  });
});

describe('Intel late checks: HWPT_ALLOC succeeds, ATTACH/REPLACE fails with EINVAL (intel_pasid_setup_nested, §5.4)', () => {
  const cases: [string, Partial<VtdS1Data>, Parameters<typeof decodeHostCaps>[0] | undefined][] = [
    ['addr_width 39', { addrWidth: 39 }, undefined],
    ['addr_width 0', { addrWidth: 0 }, undefined],
    ['addr_width 57 without CAP.FL5LP', { addrWidth: 57 }, vtdHostRegs({ fl5lp: false })],
    ['SRE without ECAP.SRS', { flags: IOMMU_VTD_S1_SRE }, vtdHostRegs({ srs: false })],
    ['EAFE without ECAP.EAFS', { flags: IOMMU_VTD_S1_EAFE }, vtdHostRegs({ eafs: false })],
  ];
  for (const [what, data, regs] of cases) {
    it(`${what}: alloc ok, attach EINVAL, replace EINVAL (old attachment kept)`, () => {
      const sim = new SimIommufd(regs ? { hostIommu: regs } : {});
      const dev = sim.addDevice();
      const ioas = sim.allocIoas();
      const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP });
      const bad = sim.allocHwpt({ devId: dev, ptId: parent, data: { ...S1, ...data } });
      expectFailsCleanly(sim, () => sim.attach(dev, bad), 'EINVAL');
      sim.attach(dev, parent);
      expectFailsCleanly(sim, () => sim.replace(dev, bad), 'EINVAL');
      expect(sim.attachedHwpt(dev)).toBe(parent);
    });
  }

  it('addr_width 57 with CAP.FL5LP, SRE with SRS, EAFE with EAFS all attach', () => {
    const { sim, dev, parent } = setup();
    for (const d of [{ addrWidth: 57 }, { flags: IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_WPE }, { flags: IOMMU_VTD_S1_EAFE }]) {
      const h = sim.allocHwpt({ devId: dev, ptId: parent, data: { ...S1, ...d } });
      sim.attach(dev, h);
      sim.detach(dev);
    }
  });

  it('WPE without SRE is ignored, even on a unit without ECAP.SRS', () => {
    const sim = new SimIommufd({ hostIommu: { srs: false } });
    const dev = sim.addDevice();
    const parent = sim.allocHwpt({ devId: dev, ptId: sim.allocIoas(), flags: NP });
    sim.attach(dev, sim.allocHwpt({ devId: dev, ptId: parent, data: { ...S1, flags: IOMMU_VTD_S1_WPE } }));
  });
});

describe('IOMMU_HWPT_INVALIDATE (§7, §11.3)', () => {
  const entry = (addr = 0x1000n, npages = 1n, flags = 0) => ({ addr, npages, flags });

  it('on the parent (a paging HWPT) -> EINVAL with 0 applied', () => {
    const { sim, parent } = setup();
    const e = expectFailsCleanly(sim, () => sim.invalidateHwpt(parent, [entry()]), 'EINVAL');
    expect(e.applied).toBe(0);
  });

  it('unknown hwpt_id -> ENOENT', () => {
    const { sim } = setup();
    expect(expectErrno(() => sim.invalidateHwpt(77, [entry()]), 'ENOENT').applied).toBe(0);
  });

  it('entry_num = 0 with a valid type -> 0; with a bad data_type -> EINVAL (the driver still checks the type)', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expect(sim.invalidateHwpt(n, [])).toBe(0);
    expectErrno(() => sim.invalidateHwpt(n, [], { dataType: 0xdead }), 'EINVAL');
    expectErrno(() => sim.invalidateHwpt(n, [entry()], { dataType: 1 }), 'EINVAL');
    expect(sim.invalidateHwpt(n, [], { dataType: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entryLen: 1 })).toBe(0);
  });

  it('entry_len = sizeof + 1 -> EINVAL; entry_len = 1 -> EINVAL', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectErrno(() => sim.invalidateHwpt(n, [entry()], { entryLen: 25 }), 'EINVAL');
    expectErrno(() => sim.invalidateHwpt(n, [entry()], { entryLen: 1 }), 'EINVAL');
  });

  it('NULL data_uptr with entry_num 1 -> EINVAL; entry_len 0 with entry_num 1 -> EINVAL', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectErrno(() => sim.invalidateHwpt(n, null, { entryNum: 1 }), 'EINVAL');
    expectErrno(() => sim.invalidateHwpt(n, [entry()], { entryLen: 0 }), 'EINVAL');
    expect(sim.invalidateHwpt(n, null)).toBe(0);
  });

  it('unknown entry flags or a non-zero __reserved -> EOPNOTSUPP', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectErrno(() => sim.invalidateHwpt(n, [entry(0x1000n, 1n, 2)]), 'EOPNOTSUPP');
    expectErrno(() => sim.invalidateHwpt(n, [{ ...entry(), reserved: 1 }]), 'EOPNOTSUPP');
  });

  it('an unaligned addr, or npages = U64_MAX with addr != 0 -> EINVAL; (0, U64_MAX) is "everything"; npages 0 is accepted', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expectErrno(() => sim.invalidateHwpt(n, [entry(0x1800n)]), 'EINVAL');
    expectErrno(() => sim.invalidateHwpt(n, [entry(0x1000n, U64_MAX)]), 'EINVAL');
    expect(sim.invalidateHwpt(n, [entry(0n, U64_MAX), entry(0x2000n, 0n), entry(0x3000n, 4n, IOMMU_VTD_INV_FLAGS_LEAF)])).toBe(3);
    expect(sim.invalidations(n)).toEqual({
      total: 3, entries: [entry(0n, U64_MAX), entry(0x2000n, 0n), entry(0x3000n, 4n, IOMMU_VTD_INV_FLAGS_LEAF)],
    });
  });

  it('two entries with the second bad -> error with 1 applied (the first took effect)', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    const before = sim.stats().invalidationEntries;
    const e = expectErrno(() => sim.invalidateHwpt(n, [entry(), entry(0x1001n)]), 'EINVAL');
    expect(e.applied).toBe(1);
    expect(sim.invalidations(n).entries).toEqual([entry()]);
    expect(sim.stats().invalidationEntries).toBe(before + 1);
  });

  it('a valid multi-entry request -> all N applied', () => {
    const { sim, dev, parent } = setup();
    const n = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    expect(sim.invalidateHwpt(n, Array.from({ length: 9 }, (_, i) => entry(BigInt(i) << 12n)))).toBe(9);
  });
});

describe('nested replace ordering (§11.3)', () => {
  it('replace onto nested[0] pins it; onto nested[1] pins that and frees nested[0]', () => {
    const { sim, dev, parent } = setup();
    const n0 = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    const n1 = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    sim.attach(dev, parent);
    sim.replace(dev, n0);
    expectFailsCleanly(sim, () => sim.destroy(n0), 'EBUSY');
    sim.replace(dev, n1);
    expectFailsCleanly(sim, () => sim.destroy(n1), 'EBUSY');
    sim.destroy(n0);
    sim.replace(dev, parent);
    sim.destroy(n1);
  });

  it('an IOPF nested HWPT needs PRI on the device (ENODEV otherwise); replace back to the parent, then to the IOAS', () => {
    const sim = new SimIommufd();
    const noPri = sim.addDevice();
    const pri = sim.addDevice({ pri: true });
    const ioas = sim.allocIoas();
    const parent = sim.allocHwpt({ devId: pri, ptId: ioas, flags: NP });
    const fault = sim.allocFaultQueue();
    const iopf = sim.allocHwpt({ devId: pri, ptId: parent, flags: FAULT, faultId: fault, data: S1 });
    expectFailsCleanly(sim, () => sim.attach(noPri, iopf), 'ENODEV');
    sim.attach(pri, iopf);
    sim.replace(pri, parent);
    const auto = sim.replace(pri, ioas);
    expect(sim.objects().find((o) => o.id === auto)?.autoDomain).toBe(true);
    sim.destroy(iopf);
    sim.destroy(parent);
    sim.closeFaultQueue(fault);
    sim.destroy(fault);
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('without a device: dev_id 0 -> ENOENT on every allocation', () => {
    const sim = new SimIommufd();
    const ioas = sim.allocIoas();
    for (const flags of [0, NP, PASID, DIRTY]) expectFailsCleanly(sim, () => sim.allocHwpt({ devId: 0, ptId: ioas, flags }), 'ENOENT');
  });
});

describe('dirty tracking (§11.5)', () => {
  it('enforce_dirty: DIRTY_TRACKING alloc for a device without dirty capability -> EOPNOTSUPP', () => {
    const sim = new SimIommufd();
    const noDirty = sim.addDevice({ hwInfo: { slads: false } });
    const ioas = sim.allocIoas();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: noDirty, ptId: ioas, flags: DIRTY }), 'EOPNOTSUPP');
  });

  it('enforce_dirty: attaching a DIRTY HWPT to a device without dirty capability -> EINVAL', () => {
    const sim = new SimIommufd();
    const dirty = sim.addDevice();
    const noDirty = sim.addDevice({ hwInfo: { slads: false } });
    const h = sim.allocHwpt({ devId: dirty, ptId: sim.allocIoas(), flags: DIRTY });
    expectFailsCleanly(sim, () => sim.attach(noDirty, h), 'EINVAL');
    sim.attach(dirty, h);
  });

  it('pasid_set_dirty_tracking on VT-d: an ALLOC_PASID|DIRTY HWPT cannot go on a PASID -> EINVAL (intel_iommu_set_dev_pasid)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const h = sim.allocHwpt({ devId: dev, ptId: sim.allocIoas(), flags: PASID | DIRTY });
    expectFailsCleanly(sim, () => sim.attach(dev, h, 100), 'EINVAL');
    sim.attach(dev, h); // the RID is fine
  });

  it('device_dirty_capability: GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING (SLADS + SMPWC)', () => {
    const sim = new SimIommufd();
    expect(sim.getHwInfo(sim.addDevice()).capabilities & IOMMU_HW_CAP_DIRTY_TRACKING).toBeTruthy();
    expect(sim.getHwInfo(sim.addDevice({ hwInfo: { slads: false } })).capabilities & IOMMU_HW_CAP_DIRTY_TRACKING).toBe(0);
    expect(sim.getHwInfo(sim.addDevice({ hwInfo: { smpwc: false } })).capabilities & IOMMU_HW_CAP_DIRTY_TRACKING).toBe(0);
  });
});

describe('IOMMU_GET_HW_INFO (§4, §11.6 get_hw_info)', () => {
  it('reports VT-d data: the errata flag, raw CAP/ECAP, max_pasid_log2 20 for a PASID device and 0 without', () => {
    const regs = vtdHostRegs();
    const sim = new SimIommufd({ hostIommu: regs });
    const info = sim.getHwInfo(sim.addDevice());
    expect(info).toMatchObject({ type: IOMMU_HW_INFO_TYPE_INTEL_VTD, maxPasidLog2: 20 });
    expect(info.data).toEqual({ flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, capReg: regs.capReg, ecapReg: regs.ecapReg });
    expect(sim.getHwInfo(sim.addDevice({ pasidBits: 0 })).maxPasidLog2).toBe(0);
    expect(sim.getHwInfo(sim.addDevice({ pasidBits: 8 })).maxPasidLog2).toBe(8);
    expect(sim.getHwInfo(sim.addDevice({ hwInfo: { pss: 15 } })).maxPasidLog2).toBe(16);
    expect(sim.getHwInfo(sim.addDevice({ hwInfo: { pasid: false } })).maxPasidLog2).toBe(0);
  });

  it('decodes back to the fields it was built from', () => {
    const c = decodeHostCaps(vtdHostRegs({ mgaw: 57, sagaw: 0b1100, nd: 2, pss: 9, cm: true }));
    expect(c).toMatchObject({ mgaw: 57, sagaw: 0b1100, nd: 2, pss: 9, cm: true, ndoms: 256, maxPasids: 1024, nestedSupported: true });
  });

  it('capabilities: ATS_NOT_SUPPORTED without ATS, PASID_EXEC/PRIV from the PASID control bits', () => {
    const sim = new SimIommufd();
    expect(sim.getHwInfo(sim.addDevice({ ats: false })).capabilities & IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED).toBeTruthy();
    expect(sim.getHwInfo(sim.addDevice()).capabilities & IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED).toBe(0);
    const c = sim.getHwInfo(sim.addDevice({ pasidExec: true, pasidPriv: true })).capabilities;
    expect(c & (IOMMU_HW_CAP_PCI_PASID_EXEC | IOMMU_HW_CAP_PCI_PASID_PRIV)).toBe(IOMMU_HW_CAP_PCI_PASID_EXEC | IOMMU_HW_CAP_PCI_PASID_PRIV);
  });

  it('INPUT_TYPE with a wrong in_data_type -> EOPNOTSUPP; with INTEL_VTD -> ok; unknown flags -> EOPNOTSUPP; no device -> ENOENT', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    expectErrno(() => sim.getHwInfo(dev, { flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, dataType: 2 }), 'EOPNOTSUPP');
    expect(sim.getHwInfo(dev, { flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, dataType: IOMMU_HW_INFO_TYPE_INTEL_VTD }).type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD);
    expect(sim.getHwInfo(dev, { dataType: 2 }).type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD); // ignored without INPUT_TYPE
    expectErrno(() => sim.getHwInfo(dev, { flags: 2 }), 'EOPNOTSUPP');
    expectErrno(() => sim.getHwInfo(0), 'ENOENT');
  });
});

describe('SMMUv3-like host flag rules (pagingFlagRules: smmuv3, §5.3)', () => {
  it('rejects NEST_PARENT|ALLOC_PASID and NEST_PARENT|DIRTY_TRACKING with EOPNOTSUPP', () => {
    const sim = new SimIommufd({ pagingFlagRules: 'smmuv3' });
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP | PASID }), 'EOPNOTSUPP');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP | DIRTY }), 'EOPNOTSUPP');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: NP | DIRTY | PASID }), 'EOPNOTSUPP');
    for (const flags of [0, NP, DIRTY, DIRTY | PASID, PASID]) sim.allocHwpt({ devId: dev, ptId: ioas, flags });
  });

  it('the VT-d rules accept all three', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    for (const flags of [NP | PASID, NP | DIRTY, NP | DIRTY | PASID]) sim.allocHwpt({ devId: dev, ptId: ioas, flags });
  });
});
