/**
 * SimIommufd fault injection: the next N calls of an operation (or of a driver step inside
 * one) fail with a chosen errno, and every such failure leaves the object table, the IOAS
 * contents, the attachments and the domain ids exactly as before (the kernel's "on failure
 * nothing changes", §6.2 replace; iopt_map_pages; iommufd_object_abort).
 */
import { describe, expect, it } from 'vitest';
import {
  BACKEND_OPS, BackendError, type Errno, IOMMU_HWPT_ALLOC_NEST_PARENT as NP, IOMMU_HWPT_ALLOC_PASID as PASID,
  IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W, SimIommufd,
} from '../src/backend/index.js';

const RW = R | W;
const S1 = { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 };

function expectFailsCleanly(sim: SimIommufd, fn: () => unknown, errno: Errno): BackendError {
  const before = sim.state();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BackendError);
  expect((err as BackendError).errno, (err as Error).message).toBe(errno);
  expect(sim.state()).toEqual(before);
  expect(sim.checkConsistency()).toEqual([]);
  return err as BackendError;
}

/** A populated backend: two devices, an IOAS with a mapping, a nest parent, a nested HWPT, attachments. */
function populated() {
  const sim = new SimIommufd();
  const a = sim.addDevice();
  const b = sim.addDevice();
  const ioas = sim.allocIoas();
  const ioas2 = sim.allocIoas();
  sim.ioasMap(ioas, 0x10_0000n, 0x10_0000n, undefined, RW | FIXED);
  const parent = sim.allocHwpt({ devId: a, ptId: ioas, flags: NP | PASID });
  const nested = sim.allocHwpt({ devId: a, ptId: parent, flags: PASID, data: S1 });
  sim.attach(a, parent);
  sim.attach(a, nested, 3);
  const auto = sim.attach(b, ioas2);
  const c = sim.addDevice(); // bound, attached to nothing
  return { sim, a, b, c, ioas, ioas2, parent, nested, auto };
}

describe('fault injection at the operations', () => {
  it('the next N calls fail with the errno, leave everything unchanged, then calls work again', () => {
    const { sim, a, ioas } = populated();
    sim.injectFault('allocHwpt', 'ENOMEM', 2);
    expect(sim.pendingFaults()).toEqual({ allocHwpt: 2 });
    const e = expectFailsCleanly(sim, () => sim.allocHwpt({ devId: a, ptId: ioas }), 'ENOMEM');
    expect(e.op).toBe('allocHwpt');
    expect(e.message).toMatch(/injected/);
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: a, ptId: ioas }), 'ENOMEM');
    expect(sim.pendingFaults()).toEqual({});
    expect(sim.allocHwpt({ devId: a, ptId: ioas })).toBeGreaterThan(0);
    expect(sim.stats().calls.allocHwpt).toEqual({ calls: 5, failures: 2 }); // 2 in populated()
  });

  it('every operation can be made to fail, and fails cleanly', () => {
    const calls: Record<(typeof BACKEND_OPS)[number], (f: ReturnType<typeof populated>) => unknown> = {
      getHwInfo: (f) => f.sim.getHwInfo(f.a),
      allocIoas: (f) => f.sim.allocIoas(),
      ioasMap: (f) => f.sim.ioasMap(f.ioas, 0x40_0000n, 0x1000n, undefined, RW | FIXED),
      ioasUnmap: (f) => f.sim.ioasUnmap(f.ioas, 0x10_0000n, 0x10_0000n),
      ioasIovaRanges: (f) => f.sim.ioasIovaRanges(f.ioas),
      ioasAllowIovas: (f) => f.sim.ioasAllowIovas(f.ioas2, []),
      allocHwpt: (f) => f.sim.allocHwpt({ devId: f.a, ptId: f.parent, data: S1 }),
      attach: (f) => f.sim.attach(f.c, f.nested, 4),
      replace: (f) => f.sim.replace(f.a, f.nested),
      detach: (f) => f.sim.detach(f.a),
      invalidateHwpt: (f) => f.sim.invalidateHwpt(f.nested, [{ addr: 0n, npages: 1n }]),
      destroy: (f) => f.sim.destroy(f.sim.allocIoas()),
      addDevice: (f) => f.sim.addDevice(),
      removeDevice: (f) => f.sim.removeDevice(f.b),
      allocFaultQueue: (f) => f.sim.allocFaultQueue(),
    };
    for (const op of BACKEND_OPS) {
      const f = populated();
      const pre = op === 'destroy' ? f.sim.allocIoas() : undefined; // destroy's target must exist beforehand
      if (pre !== undefined) calls.destroy = (g) => g.sim.destroy(pre);
      f.sim.injectFault(op, 'EBUSY');
      expectFailsCleanly(f.sim, () => calls[op](f), 'EBUSY');
      calls[op](f); // and then it works
      expect(f.sim.checkConsistency()).toEqual([]);
    }
  });

  it('count 0 disarms; unknown points and errnos are refused', () => {
    const sim = new SimIommufd();
    sim.injectFault('allocIoas', 'EINVAL', 3);
    sim.injectFault('allocIoas', 'EINVAL', 0);
    expect(sim.allocIoas()).toBe(1);
    expect(() => sim.injectFault('nope' as never, 'EINVAL')).toThrow(TypeError);
    expect(() => sim.injectFault('allocIoas', 'EWHAT' as never)).toThrow(TypeError);
  });
});

describe('fault injection inside the driver: half-done calls unwind', () => {
  it('driver.domainAlloc during an IOAS attach: no auto domain is left behind', () => {
    const { sim, c } = populated();
    const ioas3 = sim.allocIoas();
    sim.injectFault('driver.domainAlloc', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.attach(c, ioas3), 'ENOMEM');
  });

  it('driver.attach during an auto-domain attach: the new domain, its reservations and the device reference are undone', () => {
    const { sim, c } = populated();
    const ioas3 = sim.allocIoas();
    sim.injectFault('driver.attach', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.attach(c, ioas3), 'ENOMEM');
    expect(sim.attach(c, ioas3)).toBeGreaterThan(0);
  });

  it('driver.attach during a RID replace onto another IOAS: reservations go back, the old HWPT stays', () => {
    const { sim, a, ioas2 } = populated();
    sim.detach(a, 3);
    sim.injectFault('driver.attach', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.replace(a, ioas2), 'ENOMEM');
  });

  it('driver.attach during a PASID attach of a nested HWPT and during a group attach', () => {
    const { sim, c, nested } = populated();
    sim.injectFault('driver.attach', 'ENOSPC');
    expectFailsCleanly(sim, () => sim.attach(c, nested, 9), 'ENOSPC');
    const g1 = sim.addDevice({ group: 'g' });
    sim.addDevice({ group: 'g' });
    const io = sim.allocIoas();
    sim.injectFault('driver.attach', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.attach(g1, io), 'ENOMEM');
  });

  it('driver.map during IOAS_MAP: the area is not inserted anywhere', () => {
    const { sim, ioas } = populated();
    sim.injectFault('driver.map', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0x80_0000n, 0x2000n, undefined, RW | FIXED), 'ENOMEM');
  });

  it('driver.map while a new domain is filled with existing areas: the domain and its aperture reservation are undone', () => {
    const { sim, a, ioas } = populated();
    sim.injectFault('driver.map', 'ENOMEM');
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: a, ptId: ioas }), 'ENOMEM');
  });

  it('many injected failures in a row never leak: close() still empties the table', () => {
    const f = populated();
    const points = ['driver.attach', 'driver.map', 'driver.domainAlloc', 'attach', 'replace', 'detach', 'destroy'] as const;
    for (const p of points) {
      f.sim.injectFault(p, 'ENOMEM', 1);
      try {
        f.sim.replace(f.b, f.sim.allocIoas());
      } catch {
        /* injected */
      }
      try {
        f.sim.allocHwpt({ devId: f.b, ptId: f.ioas2 });
      } catch {
        /* injected */
      }
      f.sim.injectFault(p, 'ENOMEM', 0);
      expect(f.sim.checkConsistency()).toEqual([]);
    }
    f.sim.close();
    expect(f.sim.objects()).toEqual([]);
  });
});
