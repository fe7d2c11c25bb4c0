/**
 * SimIommufd object table: ID allocation, `users` refcounts exactly as the digest's §2.3 table,
 * DESTROY -> EBUSY while held, auto domains, and the ordering selftests of §11.2.
 * (Digest: /work/shared/reference/linux-iommufd.md)
 */
import { describe, expect, it } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, SimIommufd,
} from '../src/backend/index.js';
import { expectErrno, expectFailsCleanly } from './support/backend.js';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const S1 = { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 };



const users = (sim: SimIommufd, id: number) => sim.objects().find((o) => o.id === id)?.users;

describe('object IDs (§2.2)', () => {
  it('start at 1 and are the lowest free index, reused after DESTROY', () => {
    const sim = new SimIommufd();
    expect([sim.allocIoas(), sim.allocIoas(), sim.allocIoas()]).toEqual([1, 2, 3]);
    sim.destroy(2);
    expect(sim.allocIoas()).toBe(2);
    sim.destroy(1);
    sim.destroy(3);
    expect(sim.allocIoas()).toBe(1);
    expect(sim.allocIoas()).toBe(3);
  });

  it('an ID taken by a failed allocation is free again', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice(); // 1
    const ioas = sim.allocIoas(); // 2
    expectErrno(() => sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, faultId: 99 }), 'ENOENT');
    expect(sim.allocHwpt({ devId: dev, ptId: ioas })).toBe(3);
  });

  it('DESTROY of id 0 or an unknown id -> ENOENT (cmd_fail)', () => {
    const sim = new SimIommufd();
    expectErrno(() => sim.destroy(0), 'ENOENT');
    expectErrno(() => sim.destroy(7), 'ENOENT');
  });

  it('typed lookups fail with ENOENT on an object of another type', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    expectErrno(() => sim.ioasMap(dev, 0x1000n, 0x1000n, undefined, RW | IOMMU_IOAS_MAP_FIXED_IOVA), 'ENOENT');
    expectErrno(() => sim.getHwInfo(ioas), 'ENOENT');
    expectErrno(() => sim.attach(ioas, ioas), 'ENOENT');
  });

  it('BackendError carries the errno name, its number, the operation and the rule', () => {
    const sim = new SimIommufd();
    const e = expectErrno(() => sim.destroy(5), 'ENOENT');
    expect(e.code).toBe(2);
    expect(e.op).toBe('destroy');
    expect(e.message).toMatch(/^ENOENT: .*iommufd_get_object/);
  });
});

describe('users refcounts and DESTROY (§2.3)', () => {
  it('a device is held by its bind and by each attachment: DESTROY on it is always EBUSY', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    expect(users(sim, dev)).toBe(2);
    expectFailsCleanly(sim, () => sim.destroy(dev), 'EBUSY');
    const ioas = sim.allocIoas();
    const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID });
    const nested = sim.allocHwpt({ devId: dev, ptId: parent, flags: IOMMU_HWPT_ALLOC_PASID, data: S1 });
    sim.attach(dev, parent);
    sim.attach(dev, nested, 5);
    expect(users(sim, dev)).toBe(4);
    sim.replace(dev, nested); // replace adds no device reference
    expect(users(sim, dev)).toBe(4);
    sim.detach(dev, 5);
    sim.detach(dev);
    expect(users(sim, dev)).toBe(2);
    sim.removeDevice(dev);
    expect(sim.objects().find((o) => o.id === dev)).toBeUndefined();
  });

  it('an IOAS is held by each paging HWPT on it, not by its mappings (ioas_area_destroy)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    sim.ioasMap(ioas, 0x10000n, 0x4000n, undefined, RW | IOMMU_IOAS_MAP_FIXED_IOVA);
    expect(users(sim, ioas)).toBe(1);
    const h1 = sim.allocHwpt({ devId: dev, ptId: ioas });
    const h2 = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
    expect(users(sim, ioas)).toBe(3);
    expectFailsCleanly(sim, () => sim.destroy(ioas), 'EBUSY');
    sim.destroy(h1);
    sim.destroy(h2);
    sim.destroy(ioas); // mappings do not block
    expect(sim.objects().map((o) => o.type)).toEqual(['device']);
  });

  it('a paging HWPT is held by each (device, pasid) attachment and each nested child', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice();
    const b = sim.addDevice();
    const ioas = sim.allocIoas();
    const parent = sim.allocHwpt({ devId: a, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID });
    expect(users(sim, parent)).toBe(1);
    const n1 = sim.allocHwpt({ devId: a, ptId: parent, data: S1 });
    const n2 = sim.allocHwpt({ devId: a, ptId: parent, data: S1 });
    expect(users(sim, parent)).toBe(3);
    sim.attach(a, parent);
    sim.attach(b, parent);
    sim.attach(a, parent, 1);
    expect(users(sim, parent)).toBe(6);
    // attaching a nested child moves no reference of the parent
    sim.detach(b);
    sim.attach(b, n1);
    expect([users(sim, parent), users(sim, n1), users(sim, n2)]).toEqual([5, 2, 1]);
  });

  it('attaching a busy RID is EBUSY and changes nothing', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const h = sim.allocHwpt({ devId: dev, ptId: ioas });
    sim.attach(dev, h);
    expectFailsCleanly(sim, () => sim.attach(dev, h), 'EBUSY');
    expectFailsCleanly(sim, () => sim.attach(dev, ioas), 'EBUSY');
  });

  it('a nested HWPT is held by each attachment; its parent by it (DESTROY order: nested, then parent)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
    const nested = sim.allocHwpt({ devId: dev, ptId: parent, data: S1 });
    sim.attach(dev, nested);
    expect([users(sim, nested), users(sim, parent), users(sim, ioas)]).toEqual([2, 2, 2]);
    expectFailsCleanly(sim, () => sim.destroy(nested), 'EBUSY');
    expectFailsCleanly(sim, () => sim.destroy(parent), 'EBUSY');
    expectFailsCleanly(sim, () => sim.destroy(ioas), 'EBUSY');
    sim.detach(dev);
    expectFailsCleanly(sim, () => sim.destroy(parent), 'EBUSY');
    sim.destroy(nested);
    expectFailsCleanly(sim, () => sim.destroy(ioas), 'EBUSY');
    sim.destroy(parent);
    sim.destroy(ioas);
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('a FAULT object is held by its open fd and by each HWPT using it (close the fd, then DESTROY)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice({ pri: true });
    const ioas = sim.allocIoas();
    const fault = sim.allocFaultQueue();
    expect(users(sim, fault)).toBe(2);
    const h = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, faultId: fault });
    expect(users(sim, fault)).toBe(3);
    expect(sim.objects().find((o) => o.id === h)?.fault).toBe(fault);
    sim.destroy(h);
    expectFailsCleanly(sim, () => sim.destroy(fault), 'EBUSY');
    sim.closeFaultQueue(fault);
    sim.closeFaultQueue(fault); // a second close is a no-op
    sim.destroy(fault);
  });

  it('FAULT_QUEUE_ALLOC with flags -> EOPNOTSUPP', () => {
    const sim = new SimIommufd();
    expectFailsCleanly(sim, () => sim.allocFaultQueue(1), 'EOPNOTSUPP');
  });
});

describe('auto domains (§2.3, §6.4)', () => {
  it('attaching an IOAS creates an auto domain, destroyed with its last user', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice();
    const b = sim.addDevice();
    const ioas = sim.allocIoas();
    const auto = sim.attach(a, ioas);
    expect(sim.objects().find((o) => o.id === auto)).toMatchObject({ type: 'hwpt_paging', parent: ioas, autoDomain: true, users: 2 });
    expect(sim.attach(b, ioas)).toBe(auto); // compatible: shared
    expect(users(sim, auto)).toBe(3);
    sim.detach(a);
    expect(users(sim, auto)).toBe(2);
    sim.detach(b);
    expect(sim.objects().find((o) => o.id === auto)).toBeUndefined();
    expect(users(sim, ioas)).toBe(1);
  });

  it('ioas_destroy: an IOAS with an attached device (auto HWPT) -> EBUSY; without -> destroyed', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    sim.attach(dev, ioas);
    expectFailsCleanly(sim, () => sim.destroy(ioas), 'EBUSY');
    sim.detach(dev);
    sim.destroy(ioas);
  });

  it('hwpt_attach: a second device attaches to an existing auto HWPT by id; hwpt id 0 -> ENOENT', () => {
    const sim = new SimIommufd();
    const a = sim.addDevice();
    const b = sim.addDevice();
    const ioas = sim.allocIoas();
    const auto = sim.attach(a, ioas);
    expect(sim.attach(b, auto)).toBe(auto);
    const c = sim.addDevice();
    expectFailsCleanly(sim, () => sim.attach(c, 0), 'ENOENT');
  });

  it('an auto domain is never a nest parent (nested alloc on it -> EINVAL)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const auto = sim.attach(dev, ioas);
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: auto, data: S1 }), 'EINVAL');
  });
});

describe('alloc_hwpt / replace ordering (§11.2, iommufd_mock_domain)', () => {
  it('alloc_hwpt: unknown flags -> EOPNOTSUPP; replace onto a HWPT pins it; replace onto the IOAS frees it', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const auto = sim.attach(dev, ioas);
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas, flags: ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0 }), 'EOPNOTSUPP');
    const hwpt0 = sim.allocHwpt({ devId: dev, ptId: ioas });
    const hwpt1 = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
    sim.replace(dev, hwpt0);
    expect(sim.objects().find((o) => o.id === auto)).toBeUndefined(); // replaced away: the auto domain is gone
    expectFailsCleanly(sim, () => sim.destroy(hwpt0), 'EBUSY');
    sim.replace(dev, hwpt1);
    expectFailsCleanly(sim, () => sim.destroy(hwpt1), 'EBUSY');
    const back = sim.replace(dev, ioas);
    expect(sim.objects().find((o) => o.id === back)?.autoDomain).toBe(true);
    sim.destroy(hwpt1);
    // a new device directly on hwpt0; unbinding it makes hwpt0 destroyable
    const dev2 = sim.addDevice();
    sim.attach(dev2, hwpt0);
    expectFailsCleanly(sim, () => sim.destroy(hwpt0), 'EBUSY');
    sim.removeDevice(dev2);
    sim.destroy(hwpt0);
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('replace: onto a new IOAS destroys the old auto HWPT (its id is then ENOENT); onto the same IOAS is a no-op', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas1 = sim.allocIoas();
    const ioas2 = sim.allocIoas();
    const auto1 = sim.attach(dev, ioas1);
    const auto2 = sim.replace(dev, ioas2);
    expect(auto2).not.toBe(auto1); // allocated while the old one still existed
    expect(sim.objects().filter((o) => o.type === 'hwpt_paging').map((o) => o.parent)).toEqual([ioas2]);
    expectFailsCleanly(sim, () => sim.replace(dev, auto1), 'ENOENT');
    expect(sim.replace(dev, ioas2)).toBe(auto2);
    expect(sim.attachedHwpt(dev)).toBe(auto2);
  });

  it('replace: round trips between HWPTs keep every count right', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const h0 = sim.allocHwpt({ devId: dev, ptId: ioas });
    const h1 = sim.allocHwpt({ devId: dev, ptId: ioas });
    sim.attach(dev, h0);
    for (let i = 0; i < 3; i++) {
      sim.replace(dev, h1);
      expect([users(sim, h0), users(sim, h1)]).toEqual([1, 2]);
      sim.replace(dev, h0);
      expect([users(sim, h0), users(sim, h1)]).toEqual([2, 1]);
    }
    expect(sim.checkConsistency()).toEqual([]);
  });

  it('replace with hwpt 0 -> ENOENT; replace of a detached RID -> EINVAL', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const h = sim.allocHwpt({ devId: dev, ptId: ioas });
    expectFailsCleanly(sim, () => sim.replace(dev, 0), 'ENOENT');
    expectFailsCleanly(sim, () => sim.replace(dev, h), 'EINVAL');
  });

  it('attach/replace to a device or FAULT id -> EINVAL (iommufd_device_change_pt)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const f = sim.allocFaultQueue();
    expectFailsCleanly(sim, () => sim.attach(dev, dev), 'EINVAL');
    expectFailsCleanly(sim, () => sim.attach(dev, f), 'EINVAL');
  });
});

describe('teardown', () => {
  it('close() unbinds devices and destroys everything leaf first: the table is empty', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice({ pri: true });
    const ioas = sim.allocIoas();
    sim.ioasMap(ioas, 0n, 0x10000n, undefined, RW);
    const parent = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID });
    const fault = sim.allocFaultQueue();
    const nested = sim.allocHwpt({ devId: dev, ptId: parent, flags: IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_FAULT_ID_VALID, faultId: fault, data: S1 });
    sim.attach(dev, parent);
    sim.attach(dev, nested, 3);
    const ioas2 = sim.allocIoas();
    sim.attach(sim.addDevice(), ioas2);
    sim.close();
    expect(sim.objects()).toEqual([]);
    expect(sim.stats().domainIds).toBe(0);
    expect(sim.state().groups).toEqual([]);
  });

  it('removeDevice detaches its PASIDs, then its RID, then unbinds (vfio_iommufd_physical_unbind)', () => {
    const sim = new SimIommufd();
    const dev = sim.addDevice();
    const ioas = sim.allocIoas();
    const s2 = sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_PASID });
    sim.attach(dev, s2);
    sim.attach(dev, s2, 7);
    sim.attach(dev, s2, 9);
    expect(users(sim, s2)).toBe(4);
    sim.removeDevice(dev);
    expect(users(sim, s2)).toBe(1);
    expect(sim.state().ioas[0]!.reserved.filter((r) => r.owner.startsWith('device'))).toEqual([]);
    expect(sim.checkConsistency()).toEqual([]);
  });
});
