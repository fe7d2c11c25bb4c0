/**
 * Property: random sequences of backend operations (valid and invalid, with injected faults)
 * never leave a dangling reference; every refcount equals what §2.3 says its holders give it;
 * a failing call changes nothing (IOAS_UNMAP's documented partial unmap aside, §3.4); and
 * after unbinding the devices and closing the fault fds, DESTROY of everything in reverse
 * creation order succeeds and leaves the table empty.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BackendError, IOMMU_HWPT_ALLOC_DIRTY_TRACKING as DIRTY, IOMMU_HWPT_ALLOC_NEST_PARENT as NP, IOMMU_HWPT_ALLOC_PASID as PASID,
  IOMMU_HWPT_FAULT_ID_VALID as FAULT, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R,
  IOMMU_IOAS_MAP_WRITEABLE as W, type ObjectInfo, SimIommufd,
} from '../src/backend/index.js';
import { VtdError } from '../src/index.js';

type Op =
  | { k: 'addDevice'; variant: number; group: number }
  | { k: 'removeDevice'; dev: number }
  | { k: 'allocIoas' }
  | { k: 'allocFault' }
  | { k: 'closeFault'; id: number }
  | { k: 'map'; ioas: number; slot: number; pages: number; flags: number }
  | { k: 'unmap'; ioas: number; slot: number; pages: number }
  | { k: 'allocHwpt'; dev: number; pt: number; flags: number; data: number; fault: number }
  | { k: 'attach' | 'replace'; dev: number; pt: number; pasid: number }
  | { k: 'detach'; dev: number; pasid: number }
  | { k: 'destroy'; id: number }
  | { k: 'invalidate'; id: number; bad: boolean }
  | { k: 'inject'; point: number }
  | { k: 'dma'; dev: number; pasid: number; slot: number };

const idx = fc.nat({ max: 11 });
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  w(6, fc.record({ k: fc.constantFrom('attach' as const, 'replace' as const), dev: idx, pt: idx, pasid: fc.constantFrom(0, 0, 1, 2, 300) })),
  w(4, fc.record({
    k: fc.constant('allocHwpt' as const), dev: idx, pt: idx,
    flags: fc.constantFrom(0, NP, PASID, NP | PASID, NP | PASID, DIRTY, NP | DIRTY, FAULT, FAULT | PASID, NP | FAULT, 1 << 7),
    data: fc.nat({ max: 3 }), fault: idx,
  })),
  w(3, fc.record({ k: fc.constant('map' as const), ioas: idx, slot: fc.nat({ max: 7 }), pages: fc.integer({ min: 1, max: 3 }), flags: fc.constantFrom(R | W | FIXED, R | W | FIXED, R | FIXED, R | W, W | FIXED, 0) })),
  w(2, fc.record({ k: fc.constant('detach' as const), dev: idx, pasid: fc.constantFrom(0, 1, 2) })),
  w(2, fc.record({ k: fc.constant('destroy' as const), id: idx })),
  w(2, fc.record({ k: fc.constant('dma' as const), dev: idx, pasid: fc.constantFrom(0, 1, 2), slot: fc.nat({ max: 7 }) })),
  w(2, fc.record({ k: fc.constant('unmap' as const), ioas: idx, slot: fc.nat({ max: 7 }), pages: fc.integer({ min: 1, max: 8 }) })),
  w(2, fc.record({ k: fc.constant('addDevice' as const), variant: fc.nat({ max: 4 }), group: fc.nat({ max: 3 }) })),
  w(1, fc.record({ k: fc.constant('removeDevice' as const), dev: idx })),
  w(1, fc.record({ k: fc.constant('allocIoas' as const) })),
  w(1, fc.record({ k: fc.constant('allocFault' as const) })),
  w(1, fc.record({ k: fc.constant('closeFault' as const), id: idx })),
  w(1, fc.record({ k: fc.constant('invalidate' as const), id: idx, bad: fc.boolean() })),
  w(1, fc.record({ k: fc.constant('inject' as const), point: fc.nat({ max: 5 }) })),
);

/** Every sequence starts from a populated backend, so the random part reaches deep states. */
const PRELUDE: Op[] = [
  { k: 'addDevice', variant: 1, group: 0 },
  { k: 'addDevice', variant: 0, group: 1 },
  { k: 'allocIoas' },
  { k: 'allocIoas' },
  { k: 'map', ioas: 0, slot: 0, pages: 2, flags: R | W | FIXED },
  { k: 'allocFault' },
  { k: 'allocHwpt', dev: 0, pt: 0, flags: NP | PASID, data: 0, fault: 0 },
  { k: 'allocHwpt', dev: 0, pt: 2, flags: PASID, data: 1, fault: 0 },
  { k: 'attach', dev: 0, pt: 2, pasid: 0 },
  { k: 'attach', dev: 1, pt: 1, pasid: 0 },
];

const DEVICE_VARIANTS = [
  {},
  { pri: true },
  { pasidBits: 0 },
  { hwInfo: { smpwc: false, slads: false } },
  { pasidBits: 8, pri: true },
];
const INJECT_POINTS = ['driver.attach', 'driver.map', 'driver.domainAlloc', 'attach', 'allocHwpt', 'replace'] as const;
const SLOT = (s: number) => 0x10_0000n + BigInt(s) * 0x2000n;
const S1 = [undefined, { flags: 0, pgtblAddr: 0x1000n, addrWidth: 48 }, { flags: 1, pgtblAddr: 0x2000n, addrWidth: 39 }, new Uint8Array(16)];

/** §2.3, independently of the implementation: users = 1 + one per holder. */
function expectedUsers(objs: ObjectInfo[], openFaults: Set<number>): Map<number, number> {
  const m = new Map(objs.map((o) => [o.id, 1]));
  const inc = (id: number | undefined) => {
    if (id === undefined) return;
    expect(m.has(id), `reference to missing object ${id}`).toBe(true);
    m.set(id, m.get(id)! + 1);
  };
  for (const o of objs) {
    if (o.type === 'hwpt_paging' || o.type === 'hwpt_nested') {
      inc(o.parent);
      inc(o.fault);
    }
    if (o.type === 'device') {
      inc(o.id); // the VFIO bind
      for (const a of o.attached ?? []) {
        inc(o.id);
        inc(a.hwptId);
      }
    }
    if (o.type === 'fault' && openFaults.has(o.id)) inc(o.id);
  }
  return m;
}

function runSequence(ops: Op[]): void {
  const sim = new SimIommufd();
  let created: number[] = []; // creation order of the live ids we made (auto domains included)
  const openFaults = new Set<number>();
  const pick = (type: string | string[], i: number): number => {
    const types = Array.isArray(type) ? type : [type];
    const ids = sim.objects().filter((o) => types.includes(o.type)).map((o) => o.id);
    // sometimes an id of the wrong kind or a free one: the backend must refuse it cleanly
    if (i >= 10) return i === 11 ? 0 : 77;
    return ids.length ? ids[i % ids.length]! : i + 1;
  };
  let fresh: number[] = [];
  const note = (id: number) => fresh.push(id);
  for (const op of ops) {
    const before = sim.state();
    let failed: unknown;
    try {
      switch (op.k) {
        case 'addDevice':
          note(sim.addDevice({ ...DEVICE_VARIANTS[op.variant], ...(op.group ? { group: `g${op.group}` } : {}) }));
          break;
        case 'removeDevice':
          sim.removeDevice(pick('device', op.dev));
          break;
        case 'allocIoas':
          note(sim.allocIoas());
          break;
        case 'allocFault': {
          const f = sim.allocFaultQueue();
          note(f);
          openFaults.add(f);
          break;
        }
        case 'closeFault': {
          const f = pick('fault', op.id);
          sim.closeFaultQueue(f);
          openFaults.delete(f);
          break;
        }
        case 'map':
          sim.ioasMap(pick('ioas', op.ioas), SLOT(op.slot), BigInt(op.pages) * 0x1000n, undefined, op.flags);
          break;
        case 'unmap':
          sim.ioasUnmap(pick('ioas', op.ioas), SLOT(op.slot), BigInt(op.pages) * 0x1000n);
          break;
        case 'allocHwpt':
          note(sim.allocHwpt({
            devId: pick('device', op.dev), ptId: pick(['ioas', 'hwpt_paging'], op.pt), flags: op.flags, data: S1[op.data],
            faultId: pick('fault', op.fault),
          }));
          break;
        case 'attach':
        case 'replace': {
          const dev = pick('device', op.dev);
          const pt = pick(['ioas', 'hwpt_paging', 'hwpt_nested'], op.pt);
          note(op.k === 'attach' ? sim.attach(dev, pt, op.pasid) : sim.replace(dev, pt, op.pasid));
          break;
        }
        case 'detach':
          sim.detach(pick('device', op.dev), op.pasid);
          break;
        case 'destroy':
          sim.destroy(pick(['ioas', 'hwpt_paging', 'hwpt_nested', 'fault', 'device'], op.id));
          break;
        case 'invalidate':
          sim.invalidateHwpt(pick('hwpt_nested', op.id), [{ addr: op.bad ? 0x1001n : 0x1000n, npages: 1n }]);
          break;
        case 'inject':
          sim.injectFault(INJECT_POINTS[op.point]!, 'ENOMEM');
          break;
        case 'dma':
          sim.dma(pick('device', op.dev), op.pasid || undefined, SLOT(op.slot), 'r');
          break;
      }
    } catch (e) {
      // Besides BackendErrors: nested DMA without a walker, and a group spanning two IOMMU units
      // (embedder misuse), throw VtdErrors.
      if (!(e instanceof BackendError) && !(e instanceof VtdError && (op.k === 'dma' || op.k === 'addDevice'))) throw e;
      failed = e;
    }
    if (failed instanceof VtdError && op.k !== 'unmap') expect(sim.state(), `${op.k} failed (${failed.message}) but changed state`).toEqual(before);
    expect(sim.checkConsistency()).toEqual([]);
    const objs = sim.objects();
    const live = new Set(objs.map((o) => o.id));
    created = created.filter((id) => live.has(id)); // destroyed ids may be reused later
    for (const id of fresh) if (!created.includes(id)) created.push(id);
    fresh = [];
    expect(new Set(created)).toEqual(live);
    const want = expectedUsers(objs, openFaults);
    for (const o of objs) expect(o.users, `${o.type} ${o.id}`).toBe(want.get(o.id));
  }

  // Teardown: unbind the devices (auto domains go with them), close the fault fds, then
  // DESTROY everything left in reverse creation order.
  sim.injectFault('destroy', 'ENOMEM', 0);
  for (const p of INJECT_POINTS) sim.injectFault(p, 'ENOMEM', 0);
  for (const o of sim.objects()) if (o.type === 'device') sim.removeDevice(o.id);
  for (const f of openFaults) sim.closeFaultQueue(f);
  const alive = new Set(sim.objects().map((o) => o.id));
  const auto = sim.objects().filter((o) => o.autoDomain);
  expect(auto).toEqual([]);
  for (const id of created.filter((i) => alive.has(i)).reverse()) sim.destroy(id);
  expect(sim.objects()).toEqual([]);
  expect(sim.stats().domainIds).toBe(0);
}

describe('SimIommufd random operation sequences', () => {
  it('never leave a dangling reference, keep §2.3 refcounts, fail atomically, and tear down in reverse order', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 10, maxLength: 60, size: 'max' }), (ops) => runSequence([...PRELUDE, ...ops])), { numRuns: 300 });
  });
});
