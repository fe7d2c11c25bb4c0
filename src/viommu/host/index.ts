/**
 * The host bind path of one vIOMMU (`vtd.host`): host IOMMU devices, the guest RAM map their
 * stage 2 mirrors, and the vIOMMU hooks that keep the host in step with the guest's PASID
 * tables — PASID-cache sync and replay, BIND/UPDATE/UNBIND, stage-2 sharing, and forwarding of
 * PASID-based IOTLB invalidations. See README.md here for where this differs from QEMU.
 */
import { BackendError } from '../../backend/errors.js';
import { IOMMU_VTD_INV_FLAGS_LEAF, type IommufdBackend, type VtdS1InvalidateEntry } from '../../backend/types.js';
import { VtdArgumentError } from '../../errors.js';
import type { Region } from '../../memory/guest-memory.js';
import type {
  ContextInvalidation, DeviceTlbInvalidation, PasidCacheInvalidation, PasidIotlbInvalidation, TraceFn, ViommuHooks,
} from '../context.js';
import { bindMode, type BindMode, type BindUnit } from './guest-tables.js';
import type { BindContext } from './bind.js';
import { describeFailure, HostBindError, HostDeviceError, retOf, type BindFailure } from './errors.js';
import { checkHostDevice, HostIommuDevice, type HostDevice, type HostDeviceOptions } from './host-device.js';
import { syncDevice, type SyncScope } from './pasid-sync.js';
import { Stage2Pool, type RamRegion } from './stage2-pool.js';

export { HostBindError, HostDeviceError, type BindFailure, type BindOp, type HostDeviceErrorCode } from './errors.js';
export type { Binding, HostDevice, HostDeviceOptions } from './host-device.js';
export type { RamRegion } from './stage2-pool.js';
export type { BindMode, BindUnit } from './guest-tables.js';
export type { SyncScope } from './pasid-sync.js';
export { s1DataOf } from './bind.js';

const U64_MAX = (1n << 64n) - 1n;

/**
 * An optional backend extension: device-TLB (ATS) invalidation. IOMMU_HWPT_INVALIDATE of a
 * VT-d nested HWPT already flushes the device TLB on the host (cache_tag_flush_range), so
 * iommufd has no separate call; a backend that has one can implement this.
 */
export interface DeviceTlbInvalidatingBackend {
  invalidateDeviceTlb(devId: number, pasid: number | undefined, addr: bigint, bytes: bigint): void;
}

function supportsDeviceTlb(b: IommufdBackend): b is IommufdBackend & DeviceTlbInvalidatingBackend {
  return typeof (b as Partial<DeviceTlbInvalidatingBackend>).invalidateDeviceTlb === 'function';
}

export interface HostBindingOptions {
  trace: TraceFn;
  /** Host address of a guest RAM region (default: where it lives in the WASM linear memory). */
  ramHostAddress?: (region: Region) => bigint;
}

export class HostBinding {
  private readonly devs: HostIommuDevice[] = [];
  private readonly pools = new Map<IommufdBackend, Stage2Pool>();
  private readonly ram: RamRegion[];
  private readonly emit: TraceFn;
  /** Events of the operation in progress: emitted once its state changes are all done. */
  private buffer: [string, Readonly<Record<string, unknown>>][] | undefined;
  private readonly trace: TraceFn = (name, args) => {
    if (this.buffer) this.buffer.push([name, args]);
    else this.emit(name, args);
  };
  private readonly ctx: BindContext;
  /** @internal The vIOMMU hooks of the bind path (installed as the unit's internal hooks). */
  readonly hooks: ViommuHooks;

  constructor(private readonly unit: BindUnit, options: HostBindingOptions) {
    this.emit = options.trace;
    const hostAddress = options.ramHostAddress ?? ((r: Region) => BigInt(r.linear));
    this.ram = unit.memory.regions.map((r) => checkRegion({ base: r.base, size: BigInt(r.size), hostAddress: hostAddress(r) }));
    this.ctx = { trace: this.trace, pool: (d) => this.pools.get(d.backend)! };
    const self = this;
    this.hooks = {
      pasidCacheInvalidated(i: PasidCacheInvalidation) {
        return self.sync(i.granularity === 'global' ? { kind: 'global' }
          : i.granularity === 'domain' ? { kind: 'domain', did: i.did } : { kind: 'pasid', did: i.did, pasid: i.pasid });
      },
      contextCacheInvalidated(i: ContextInvalidation) {
        // Domain-selective is global (scalable context entries carry no DID; QEMU does the same).
        if (i.granularity !== 'device') return self.sync({ kind: 'global' });
        return self.batch(() => self.deviceSelective(i.sid, i.fm));
      },
      translationChanged() {
        return self.sync({ kind: 'global' });
      },
      pasidIotlbInvalidated(i: PasidIotlbInvalidation) {
        return self.batch(() => self.flushPiotlb(i));
      },
      deviceTlbInvalidated(i: DeviceTlbInvalidation) {
        return self.batch(() => self.flushDeviceTlb(i));
      },
    };
  }

  // ------------------------------------------------------------------ devices

  /**
   * Register a passthrough device (see HostDeviceOptions); throws HostDeviceError. The device
   * gets its default stage 2 (shared when compatible) with its RID attached, then is synced
   * with the guest's tables at once (remapping may be on already; a bind failure there is
   * traced as `vtd_host_bind_error` and retried at the next invalidation).
   */
  addDevice(options: HostDeviceOptions): HostDevice {
    return this.batch(() => this.add(options));
  }

  private add(options: HostDeviceOptions): HostDevice {
    const checked = checkHostDevice(this.unit, options);
    if (this.device(options.bus, options.devfn)) {
      throw new HostDeviceError('duplicate', `a host device is already registered at ${options.bus}:${options.devfn}`);
    }
    if (this.devs.some((d) => d.backend === options.backend && d.devId === options.devId)) {
      throw new HostDeviceError('duplicate', `backend device ${options.devId} is already registered`);
    }
    this.collect();
    let pool = this.pools.get(options.backend);
    if (!pool) {
      pool = new Stage2Pool(options.backend, () => this.ram);
      this.pools.set(options.backend, pool);
    }
    const token = {};
    let s2;
    try {
      s2 = pool.acquire(token, options.devId, checked.flags, checked.key);
    } catch (e) {
      if (pool.empty) this.pools.delete(options.backend);
      throw new HostDeviceError('backend', `host device ${options.devId}: no default stage 2: ${(e as Error).message}`, { cause: e });
    }
    const dev = new HostIommuDevice(
      options.bus, options.devfn, options.backend, options.devId, options.name, checked.hostCaps, checked.pasidCapable,
      checked.pasidLimit, s2,
    );
    s2.users.delete(token);
    s2.users.add(dev);
    dev.attached.set(0, s2.hwptId);
    this.devs.push(dev);
    const failures = syncDevice(this.ctx, this.unit, dev, { kind: 'global' });
    this.report(failures);
    return dev;
  }

  /**
   * Unregister a host device: every PASID and the RID detached, its stage-1 HWPTs freed, its
   * stage 2 released (destroyed with its last user). A detach the backend refuses aborts the
   * removal (HostDeviceError, the device stays registered); a refused destroy is retried later.
   */
  removeDevice(which: HostDevice | { bus: number; devfn: number }): void {
    this.batch(() => this.remove(which));
  }

  private remove(which: HostDevice | { bus: number; devfn: number }): void {
    const dev = this.devs.find((d) => d === which) ?? this.devs.find((d) => d.bus === which.bus && d.devfn === which.devfn);
    if (dev === undefined) throw new HostDeviceError('not-registered', `no host device at ${which.bus}:${which.devfn}`);
    this.collect();
    const pool = this.pools.get(dev.backend)!;
    for (const pasid of [...dev.attached.keys()].sort((a, b) => b - a)) {
      try {
        dev.backend.detach(dev.devId, pasid === 0 ? undefined : pasid);
      } catch (e) {
        this.trace('vtd_device_detach_hwpt', { dev_id: dev.devId, pasid, ret: retOf(e) });
        throw new HostDeviceError('backend', `host device ${dev.devId}: detaching PASID ${pasid} failed: ${(e as Error).message}`, { cause: e });
      }
      dev.attached.delete(pasid);
      // Keep the cache equal to what is attached, so a removal that stops at a later PASID
      // leaves this one unbound (the next sync binds it again), not cached as bound.
      const b = dev.cache.get(pasid);
      if (b !== undefined) {
        if (b.s1HwptId !== undefined) pool.destroy(b.s1HwptId);
        dev.cache.delete(pasid);
      }
      this.trace('vtd_device_detach_hwpt', { dev_id: dev.devId, pasid, ret: 0 });
    }
    for (const b of dev.cache.values()) if (b.s1HwptId !== undefined) pool.destroy(b.s1HwptId);
    dev.cache.clear();
    pool.release(dev, dev.s2);
    this.devs.splice(this.devs.indexOf(dev), 1);
    if (pool.empty) this.pools.delete(dev.backend);
  }

  /** The registered host devices, in registration order. */
  devices(): HostDevice[] {
    return [...this.devs];
  }

  /** The host device at bus:devfn, if any. */
  device(bus: number, devfn: number): HostDevice | undefined {
    return this.devs.find((d) => d.bus === bus && d.devfn === devfn);
  }

  // ------------------------------------------------------------------ guest RAM

  /** The guest RAM the stage-2 IOASes map (initially `vtd.memory.regions`). */
  ramRegions(): RamRegion[] {
    return this.ram.map((r) => ({ ...r }));
  }

  /**
   * A RAM region appeared in the guest's physical address space (a hot-plugged DIMM, say):
   * mapped into every stage-2 IOAS (all or none; throws HostDeviceError on failure).
   */
  addRamRegion(region: RamRegion): void {
    const r = checkRegion(region);
    if (this.ram.some((x) => r.base < x.base + x.size && x.base < r.base + r.size)) {
      throw new VtdArgumentError(`RAM region 0x${r.base.toString(16)}+0x${r.size.toString(16)} overlaps one already there`);
    }
    const done: Stage2Pool[] = [];
    try {
      for (const pool of this.pools.values()) {
        pool.mapRegion(r);
        done.push(pool);
      }
    } catch (e) {
      for (const pool of done) pool.unmapRegion(r);
      throw new HostDeviceError('backend', `mapping RAM at 0x${r.base.toString(16)} failed: ${(e as Error).message}`, { cause: e });
    }
    this.ram.push(r);
    this.ram.sort((a, b) => (a.base < b.base ? -1 : 1));
  }

  /** A RAM region went away: unmapped from every stage-2 IOAS (throws HostDeviceError if some unmap failed). */
  removeRamRegion(base: bigint): void {
    const i = this.ram.findIndex((r) => r.base === base);
    if (i < 0) throw new VtdArgumentError(`no RAM region at ${typeof base === 'bigint' ? `0x${base.toString(16)}` : String(base)}`);
    const r = this.ram[i]!;
    const errors = [...this.pools.values()].flatMap((p) => p.unmapRegion(r));
    if (errors.length) {
      throw new HostDeviceError('backend', `unmapping RAM at 0x${r.base.toString(16)} failed: ${errors[0]!.message}`, { cause: errors[0] });
    }
    this.ram.splice(i, 1);
  }

  /** Objects whose IOMMU_DESTROY failed and will be retried at the next sync, per backend. */
  pendingDestroys(): { backend: IommufdBackend; ids: number[] }[] {
    return [...this.pools.values()].filter((p) => p.pending.length > 0).map((p) => ({ backend: p.backend, ids: [...p.pending] }));
  }

  // ------------------------------------------------------------------ triggers

  /** A unit reset (Vtd.reset): remapping is off now, so every binding goes and RIDs get their default stage 2. */
  reset(): HostBindError | undefined {
    return this.batch(() => {
      this.trace('vtd_pasid_cache_reset', {});
      return this.sync({ kind: 'global' });
    });
  }

  /**
   * Sync every host device with the guest's tables over `scope`, as a PASID-cache invalidation
   * of that granularity does (global: what SRTP, TE, context-cache invalidations and reset do).
   * Returns the error the invalidation reports, if a step failed (also traced).
   */
  sync(scope: SyncScope): HostBindError | undefined {
    return this.batch(() => this.syncOn(scope, this.devs));
  }

  /**
   * Run one operation with its trace events held back until it is done, so that a listener
   * (which may throw) never sees, or interrupts, a half-done state change.
   */
  private batch<T>(fn: () => T): T {
    if (this.buffer !== undefined) return fn();
    this.buffer = [];
    try {
      return fn();
    } finally {
      const events = this.buffer;
      this.buffer = undefined;
      for (const [name, args] of events) this.emit(name, args);
    }
  }

  private syncOn(scope: SyncScope, devices: readonly HostIommuDevice[]): HostBindError | undefined {
    this.collect();
    const failures: BindFailure[] = [];
    for (const dev of [...devices]) failures.push(...syncDevice(this.ctx, this.unit, dev, scope));
    return this.report(failures);
  }

  /** Device-selective context-cache invalidation: QEMU's vtd_pasid_cache_devsi for the devices FM matches. */
  private deviceSelective(sid: number, fm: number): HostBindError | undefined {
    const ignore = [0, 0b100, 0b110, 0b111][fm & 3]!;
    const matches = this.devs.filter((d) => d.bus === sid >> 8 && (d.devfn & ~ignore) === (sid & 0xff & ~ignore));
    for (const d of matches) this.trace('vtd_pasid_cache_devsi', { bus: d.bus, dev: d.devfn >> 3, fn: d.devfn & 7 });
    return matches.length ? this.syncOn({ kind: 'global' }, matches) : undefined;
  }

  /**
   * PASID-based IOTLB invalidation: forwarded with IOMMU_HWPT_INVALIDATE to the stage-1 HWPT
   * of every binding with that PASID and (cached) DID — the whole range for all-in-PASID, else
   * 2^AM pages from the address aligned down to them, LEAF from IH.
   */
  private flushPiotlb(i: PasidIotlbInvalidation): HostBindError | undefined {
    let entry: VtdS1InvalidateEntry;
    if (i.granularity === 'pasid') {
      entry = { addr: 0n, npages: U64_MAX, flags: 0 };
    } else {
      const npages = 1n << BigInt(i.am);
      entry = { addr: i.addr & ~((npages << 12n) - 1n), npages, flags: i.ih ? IOMMU_VTD_INV_FLAGS_LEAF : 0 };
    }
    const failures: BindFailure[] = [];
    for (const dev of this.devs) {
      const b = dev.cache.get(i.pasid);
      if (b?.s1HwptId === undefined || b.did !== i.did) continue;
      let ret = 0;
      try {
        dev.backend.invalidateHwpt(b.s1HwptId, [entry]);
      } catch (e) {
        ret = retOf(e);
        failures.push({ op: 'flush', devId: dev.devId, pasid: i.pasid, error: e instanceof Error ? e : new Error(String(e)) });
      }
      this.trace('vtd_host_piotlb_flush', {
        dev_id: dev.devId, pasid: i.pasid, hwpt_id: b.s1HwptId, addr: entry.addr, npages: entry.npages, flags: entry.flags, ret,
      });
    }
    return this.report(failures);
  }

  /** Device-TLB invalidation: forwarded to bound devices when the backend has a call for it. */
  private flushDeviceTlb(i: DeviceTlbInvalidation): HostBindError | undefined {
    const failures: BindFailure[] = [];
    for (const dev of this.devs) {
      if (dev.sid !== i.sid || !supportsDeviceTlb(dev.backend)) continue;
      const pasids = i.global ? [...dev.cache.keys()].filter((p) => p !== 0) : [i.pasid ?? 0];
      for (const pasid of pasids) {
        if (!dev.cache.has(pasid)) continue;
        try {
          dev.backend.invalidateDeviceTlb(dev.devId, pasid === 0 ? undefined : pasid, i.addr, i.bytes);
        } catch (e) {
          failures.push({ op: 'flush', devId: dev.devId, pasid, error: e instanceof Error ? e : new Error(String(e)) });
        }
      }
    }
    return this.report(failures);
  }

  /** Retry refused destroys; drop pools that became empty. */
  private collect(): void {
    for (const [backend, pool] of this.pools) {
      pool.collect();
      if (pool.empty && !this.devs.some((d) => d.backend === backend)) this.pools.delete(backend);
    }
  }

  private report(failures: BindFailure[]): HostBindError | undefined {
    if (failures.length === 0) return undefined;
    for (const f of failures) {
      this.trace('vtd_host_bind_error', {
        op: f.op, dev_id: f.devId, pasid: f.pasid, errno: f.error instanceof BackendError ? f.error.errno : undefined, message: describeFailure(f),
      });
    }
    return new HostBindError(failures);
  }

  /** What host devices get now: the guest's tables ('translate'), the default stage 2, or nothing ('blocked'). */
  get mode(): BindMode {
    return bindMode(this.unit);
  }
}

function checkRegion(r: RamRegion): RamRegion {
  for (const k of ['base', 'size', 'hostAddress'] as const) {
    const v = r?.[k];
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new VtdArgumentError(`RAM region ${k} must be a u64 bigint`);
  }
  if ((r.base | r.size | r.hostAddress) & 0xfffn || r.size === 0n) {
    throw new VtdArgumentError('RAM region base, size and hostAddress must be 4 KiB aligned, size > 0');
  }
  return { base: r.base, size: r.size, hostAddress: r.hostAddress };
}
