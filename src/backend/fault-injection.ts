/**
 * Fault injection for tests: arm a point so that its next `count` calls fail with an errno.
 * Points are the backend's operations (checked on entry, before anything changes) and three
 * driver-level points inside them (checked after the iommufd core's own checks passed, so the
 * unwinding of a half-done call is exercised):
 * - `driver.domainAlloc`: the driver's domain_alloc_paging_flags / domain_alloc_nested;
 * - `driver.attach`: the hardware attach / set_dev_pasid / replace of a HWPT (once per call);
 * - `driver.map`: loading a mapping into one domain (iommu_map), once per (area, domain).
 */
import { BackendError, isErrno, type Errno } from './errors.js';

export const BACKEND_OPS = [
  'getHwInfo', 'allocIoas', 'ioasMap', 'ioasUnmap', 'ioasIovaRanges', 'ioasAllowIovas', 'allocHwpt', 'attach', 'replace',
  'detach', 'invalidateHwpt', 'destroy', 'addDevice', 'removeDevice', 'allocFaultQueue',
] as const;
export type BackendOp = (typeof BACKEND_OPS)[number];
export const DRIVER_POINTS = ['driver.domainAlloc', 'driver.attach', 'driver.map'] as const;
export type FaultInjectPoint = BackendOp | (typeof DRIVER_POINTS)[number];

const POINTS: readonly string[] = [...BACKEND_OPS, ...DRIVER_POINTS];

export class FaultInjector {
  private readonly armed = new Map<FaultInjectPoint, { errno: Errno; remaining: number }>();

  arm(point: FaultInjectPoint, errno: Errno, count: number): void {
    if (!POINTS.includes(point)) throw new TypeError(`unknown fault-injection point '${String(point)}' (one of ${POINTS.join(', ')})`);
    if (!isErrno(errno)) throw new TypeError(`unknown errno '${String(errno)}'`);
    if (!Number.isInteger(count) || count < 0) throw new TypeError(`count must be a non-negative integer, got ${count}`);
    if (count === 0) this.armed.delete(point);
    else this.armed.set(point, { errno, remaining: count });
  }

  /** Throws if `point` is armed (and counts the shot). */
  check(point: FaultInjectPoint): void {
    const a = this.armed.get(point);
    if (!a) return;
    if (--a.remaining === 0) this.armed.delete(point);
    throw new BackendError(a.errno, `injected fault at ${point}`);
  }

  /** Shots left per armed point. */
  pending(): Partial<Record<FaultInjectPoint, number>> {
    return Object.fromEntries([...this.armed].map(([p, a]) => [p, a.remaining]));
  }

  clear(): void {
    this.armed.clear();
  }
}
