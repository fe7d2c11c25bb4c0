/**
 * SimIommufd: the embedded default backend — an in-process simulation of Linux iommufd
 * (7.0) on Intel VT-d hosts. Same objects, refcounts, flag and data validation and errnos as
 * the kernel, and a data path (`dma`) that carries a device's DMA through whatever is attached.
 */
import { VtdArgumentError } from '../errors.js';
import { refFirstStageWalk, type RefMemory } from '../reference/index.js';
import { type Caps, resolveCaps } from '../spec/caps.js';
import type { FirstStageWalkRequest, TranslateResult } from '../types.js';
import type { AnyObject, PagingFlagRules, SimContext } from './context.js';
import {
  attachedPasids, detachHwpt, deviceAttach, deviceReplace, type DeviceObject, type Group, type IommuUnit, MSI_WINDOW,
} from './device.js';
import { type FirstStageWalker, resolveAttachment, translateThrough } from './dma.js';
import { BackendError, type Errno, fail } from './errors.js';
import { type BackendOp, FaultInjector, type FaultInjectPoint } from './fault-injection.js';
import { decodeHostCaps, type HostVtdFields, type HostVtdRegs, vtdHostRegs } from './host-caps.js';
import {
  type FaultObject, findHwptPaging, hwptAlloc, hwptInvalidate,
  teardownNestedHwpt, teardownPagingHwpt,
} from './hwpt.js';
import { type Area, type HostMemory, IoPageTable, type IoasObject, MAP_FLAGS, U64_MAX, ULONG_MAX } from './ioas.js';
import { hold, ObjectTable, release } from './objects.js';
import {
  type DmaAccess, type DmaOptions, type DmaResult, type HwInfo, type HwInfoOptions, type HwptAllocRequest, type InvalidateOptions,
  IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_PRIV,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_NO_PASID, type IommufdBackend, type IovaRange, type IovaRanges,
  type ObjectInfo, type ObjectType, type VtdS1InvalidateEntry,
} from './types.js';

/** The guest memory the default (reference) first-stage walker reads. */
export interface GuestMemoryReader {
  readU64(gpa: bigint): bigint;
  writeU64(gpa: bigint, value: bigint): void;
  contains(gpa: bigint, len?: number): boolean;
}

export interface SimIommufdOptions {
  /**
   * A Vtd: its `firstStageWalk` (the WASM walker over its guest RAM) walks nested HWPTs'
   * stage-1 tables, and its `memory` is the guest memory.
   */
  vtd?: { memory: GuestMemoryReader; firstStageWalk(req: FirstStageWalkRequest): TranslateResult };
  /**
   * Guest memory holding the stage-1 tables. Without `firstStageWalk` or `vtd`, the pure-TS
   * reference walker reads it (with default capabilities).
   */
  guestMemory?: GuestMemoryReader;
  /** The first-stage walker (takes precedence over `vtd.firstStageWalk`). */
  firstStageWalk?: FirstStageWalker;
  /** Host memory behind IOAS mappings (what can be pinned); default: every address. */
  hostMemory?: HostMemory;
  /** The host VT-d unit of devices added without `hwInfo`: raw registers or named fields. */
  hostIommu?: HostVtdRegs | Partial<HostVtdFields>;
  /**
   * Paging-HWPT flag rules: 'vtd' (default) accepts every combination the Intel driver does;
   * 'smmuv3' models an ARM SMMUv3-like host that accepts exactly 0, NEST_PARENT,
   * DIRTY_TRACKING, DIRTY_TRACKING|ALLOC_PASID and ALLOC_PASID, so NEST_PARENT|ALLOC_PASID and
   * NEST_PARENT|DIRTY_TRACKING fail with EOPNOTSUPP. Everything else stays VT-d.
   */
  pagingFlagRules?: PagingFlagRules;
  /** vfio/iommufd `allow_unsafe_interrupts`: bind devices without isolated MSI. */
  allowUnsafeInterrupts?: boolean;
}

/** What VFIO bind learns about a device (the embedder's equivalent of a PCI device + its IOMMU). */
export interface SimDeviceOptions {
  name?: string;
  /**
   * Its host VT-d unit: raw CAP/ECAP, or named fields over the defaults. Default: the backend's
   * `hostIommu`.
   */
  hwInfo?: HostVtdRegs | Partial<HostVtdFields>;
  /**
   * Name of the unit (devices on one unit share its domain ids and must have the same
   * registers). Default: one unit per distinct register pair.
   */
  iommu?: string;
  /** iommu_group name; devices of a group share their attachments. Default: a group of its own. */
  group?: string;
  /** PCI PASID capability width (0 = no PASID capability). Default 20. */
  pasidBits?: number;
  /** PCI PASID control: execute / privileged modes enabled (GET_HW_INFO capabilities). */
  pasidExec?: boolean;
  pasidPriv?: boolean;
  /** PRI enabled: HWPTs with a fault queue can be attached. Default false. */
  pri?: boolean;
  /** ATS supported. Default true. */
  ats?: boolean;
  /**
   * The IOMMU can enforce cache coherency for it (IOMMU_CAP_ENFORCE_CACHE_COHERENCY, VT-d
   * ECAP.SC): sets ECAP.SC of its unit. HWPTs allocated for a coherent device force snooping and
   * cannot be attached to a device whose unit lacks ECAP.SC. Default: the unit's ECAP.SC.
   */
  coherent?: boolean;
  /** Interrupt remapping isolates its MSIs. Default true (bind fails with EPERM otherwise). */
  isolatedMsi?: boolean;
  /** RMRRs (IOMMU_RESV_DIRECT), reserved on the RID's IOAS besides the MSI window. */
  rmrrs?: readonly IovaRange[];
}

export interface DmaBatchResult {
  faults: number;
  /** Host address per request (0 where it faulted). */
  address: BigUint64Array;
  /** 1 where the request translated. */
  ok: Uint8Array;
}

export interface SimStats {
  objects: number;
  byType: Record<ObjectType, number>;
  /** Per operation: calls and failures. */
  calls: Partial<Record<BackendOp, { calls: number; failures: number }>>;
  dma: { requests: number; faults: number };
  /** IOMMU_HWPT_INVALIDATE entries applied. */
  invalidationEntries: number;
  /** Domain ids in use over all host units. */
  domainIds: number;
}

/** A serializable picture of the whole state, for tests that compare before/after. */
export interface SimState {
  objects: ObjectInfo[];
  ioas: {
    id: number;
    alignment: bigint;
    areas: Area[];
    reserved: (IovaRange & { owner: string })[];
    allowed: IovaRange[];
    hwpts: number[];
  }[];
  groups: { name: string; devices: number[]; attach: { pasid: number; hwptId: number; devices: number[]; hw: number[] }[] }[];
  units: { name: string; dids: { hwptId: number; did: number; holders: string[] }[] }[];
}

const U32_MAX = 0xffff_ffff;

function checkU32(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > U32_MAX) throw new VtdArgumentError(`${name} must be a u32, got ${String(v)}`);
  return v;
}

function checkU64(name: string, v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new VtdArgumentError(`${name} must be a u64 bigint, got ${String(v)}`);
  return v;
}

function checkPasid(pasid: unknown): number {
  return pasid === undefined ? IOMMU_NO_PASID : checkU32('pasid', pasid);
}

function isRegs(v: HostVtdRegs | Partial<HostVtdFields>): v is HostVtdRegs {
  return typeof (v as HostVtdRegs).capReg === 'bigint' && typeof (v as HostVtdRegs).ecapReg === 'bigint';
}

const SC_BIT = 1n << 7n;

/** The pure-TS reference walker over a GuestMemory-like (the default when no walker is given). */
function referenceWalker(mem: GuestMemoryReader, caps: Caps): FirstStageWalker {
  const ref: RefMemory = {
    read64: (gpa) => (gpa >= 0n && mem.contains(gpa, 8) ? mem.readU64(gpa) : undefined),
    write64: (gpa, v) => mem.writeU64(gpa, v),
    spanInside: (gpa, bytes) => gpa >= 0n && mem.contains(gpa, bytes),
  };
  const env = { mem: ref, caps, te: true, scalable: true, rtaddr: 0n };
  return (req) => refFirstStageWalk(env, req);
}

export class SimIommufd implements IommufdBackend {
  private readonly table = new ObjectTable<AnyObject>();
  private readonly injector = new FaultInjector();
  private readonly ctx: SimContext;
  private readonly walker: FirstStageWalker | undefined;
  private readonly defaultRegs: HostVtdRegs;
  private readonly units = new Map<string, IommuUnit>();
  private readonly groups = new Map<string, Group>();
  private readonly allowUnsafeInterrupts: boolean;
  private readonly counters: SimStats['calls'] = {};
  private dmaRequests = 0;
  private dmaFaults = 0;
  private invalidationEntries = 0;

  constructor(options: SimIommufdOptions = {}) {
    const walk = options.firstStageWalk ?? (options.vtd ? (r: FirstStageWalkRequest) => options.vtd!.firstStageWalk(r) : undefined);
    const mem = options.guestMemory ?? options.vtd?.memory;
    this.walker = walk ?? (mem ? referenceWalker(mem, resolveCaps()) : undefined);
    const hi = options.hostIommu ?? {};
    this.defaultRegs = isRegs(hi) ? { capReg: hi.capReg, ecapReg: hi.ecapReg } : vtdHostRegs(hi);
    this.allowUnsafeInterrupts = options.allowUnsafeInterrupts ?? false;
    const rules = options.pagingFlagRules ?? 'vtd';
    if (rules !== 'vtd' && rules !== 'smmuv3') throw new VtdArgumentError(`pagingFlagRules must be 'vtd' or 'smmuv3', got ${String(rules)}`);
    this.ctx = {
      table: this.table,
      hostMemory: options.hostMemory,
      pagingFlagRules: rules,
      injectPoint: (p) => this.injector.check(p),
    };
  }

  /** Runs one backend operation: fault injection on entry, failure accounting, `op` on errors. */
  private run<T>(op: BackendOp, fn: () => T): T {
    const c = (this.counters[op] ??= { calls: 0, failures: 0 });
    c.calls++;
    try {
      this.injector.check(op);
      return fn();
    } catch (e) {
      if (e instanceof BackendError) {
        c.failures++;
        e.op ??= op;
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------ devices (VFIO bind/unbind)

  /** VFIO bind (iommufd_device_bind): registers a device; returns its device id. */
  addDevice(options: SimDeviceOptions = {}): number {
    return this.run('addDevice', () => {
      const o = options;
      let regs = o.hwInfo === undefined ? this.defaultRegs : isRegs(o.hwInfo) ? { ...o.hwInfo } : vtdHostRegs(o.hwInfo);
      if (o.coherent !== undefined) {
        regs = { capReg: regs.capReg, ecapReg: o.coherent ? regs.ecapReg | SC_BIT : regs.ecapReg & ~SC_BIT };
      }
      const unitName = o.iommu ?? `dmar:${regs.capReg.toString(16)}:${regs.ecapReg.toString(16)}`;
      let unit = this.units.get(unitName);
      if (unit && (unit.regs.capReg !== regs.capReg || unit.regs.ecapReg !== regs.ecapReg)) {
        throw new VtdArgumentError(`IOMMU unit '${unitName}' already exists with other CAP/ECAP registers`);
      }
      const pasidBits = o.pasidBits ?? 20;
      if (!Number.isInteger(pasidBits) || pasidBits < 0 || pasidBits > 20) throw new VtdArgumentError(`pasidBits must be 0..20, got ${pasidBits}`);
      for (const [i, r] of (o.rmrrs ?? []).entries()) {
        if (checkU64(`rmrrs[${i}].start`, r.start) > checkU64(`rmrrs[${i}].last`, r.last)) throw new VtdArgumentError(`rmrrs[${i}] has start > last`);
      }
      // iommufd_device_bind: IOMMU_CAP_CACHE_COHERENCY is always true on VT-d; isolated MSI is not.
      if (o.isolatedMsi === false && !this.allowUnsafeInterrupts) {
        fail('EPERM', 'the device has no isolated MSI (interrupt remapping) and allow_unsafe_interrupts is off (iommufd_device_bind)');
      }
      const groupName = o.group;
      const group = groupName === undefined ? undefined : this.groups.get(groupName);
      if (group) {
        if (group.attach.size) fail('EBUSY', `group '${groupName}' has attachments: bind all its devices before attaching (simulation limit)`);
        if (group.devices[0]!.unit.name !== unitName) throw new VtdArgumentError(`devices of group '${groupName}' must be on one IOMMU unit`);
      }
      if (!unit) {
        unit = { name: unitName, regs, caps: decodeHostCaps(regs), dids: new Map() };
        this.units.set(unitName, unit);
      }
      const id = this.table.nextId();
      const g: Group = group ?? { name: groupName ?? `group-of-device-${id}-${this.table.nextSeq()}`, devices: [], attach: new Map() };
      const pciPasids = pasidBits > 0 ? 2 ** pasidBits : 0;
      const dev: DeviceObject = {
        id, seq: this.table.nextSeq(), type: 'device', users: 1, name: o.name ?? `device${id}`, unit, group: g,
        maxPasids: Math.min(pciPasids, unit.caps.maxPasids),
        pri: o.pri ?? false, ats: o.ats ?? true, pasidExec: o.pasidExec ?? false, pasidPriv: o.pasidPriv ?? false,
        enforceCacheCoherency: unit.caps.sc,
        reservedRegions: [{ ...MSI_WINDOW }, ...(o.rmrrs ?? []).map((r) => ({ start: r.start, last: r.last }))],
      };
      hold(dev); // "The calling driver is a user until iommufd_device_unbind()"
      g.devices.push(dev);
      this.groups.set(g.name, g);
      this.table.insert(dev);
      return id;
    });
  }

  /**
   * VFIO unbind (closing the device's cdev): detaches every attached PASID, then the RID, then
   * unbinds (vfio_iommufd_physical_unbind). The device id becomes free.
   */
  removeDevice(devId: number): void {
    this.run('removeDevice', () => {
      const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
      const pasids = attachedPasids(dev);
      for (const p of pasids.filter((x) => x !== IOMMU_NO_PASID)) detachHwpt(this.ctx, dev, p);
      if (pasids.includes(IOMMU_NO_PASID)) detachHwpt(this.ctx, dev, IOMMU_NO_PASID);
      // Group-mates may keep the group attached: this device leaves those hardware attachments.
      for (const [pasid, rec] of dev.group.attach) {
        if (!rec.hwDevices.includes(dev)) continue;
        rec.hwDevices = rec.hwDevices.filter((d) => d !== dev);
        const info = dev.unit.dids.get(rec.hwpt);
        info?.holders.delete(`${dev.id}:${pasid}`);
        if (info && info.holders.size === 0) dev.unit.dids.delete(rec.hwpt);
      }
      const g = dev.group;
      g.devices.splice(g.devices.indexOf(dev), 1);
      if (g.devices.length === 0) this.groups.delete(g.name);
      release(dev);
      this.table.remove(dev);
    });
  }

  // ------------------------------------------------------------------ FAULT objects

  /** IOMMU_FAULT_QUEUE_ALLOC: a FAULT object whose (simulated) fd holds a reference until closed. */
  allocFaultQueue(flags = 0): number {
    return this.run('allocFaultQueue', () => {
      if (checkU32('flags', flags) !== 0) fail('EOPNOTSUPP', 'FAULT_QUEUE_ALLOC flags must be 0 (iommufd_fault_alloc)');
      const f: FaultObject = { id: this.table.nextId(), seq: this.table.nextSeq(), type: 'fault', users: 1, fdOpen: true };
      hold(f);
      this.table.insert(f);
      return f.id;
    });
  }

  /** close(fault_fd): drops the fd's reference (a second close is a no-op). */
  closeFaultQueue(faultId: number): void {
    const f = this.table.getTyped(checkU32('faultId', faultId), 'fault', 'fault_id');
    if (!f.fdOpen) return;
    f.fdOpen = false;
    release(f);
  }

  // ------------------------------------------------------------------ the uAPI

  getHwInfo(devId: number, options: HwInfoOptions = {}): HwInfo {
    return this.run('getHwInfo', () => {
      const flags = checkU32('flags', options.flags ?? 0);
      if (flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) fail('EOPNOTSUPP', 'unknown GET_HW_INFO flags (iommufd_get_hw_info)');
      const type = flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE ? checkU32('dataType', options.dataType ?? 0) : IOMMU_HW_INFO_TYPE_DEFAULT;
      const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
      if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_INTEL_VTD) {
        fail('EOPNOTSUPP', `in_data_type ${type} is neither DEFAULT nor INTEL_VTD (intel_iommu_hw_info)`);
      }
      const c = dev.unit.caps;
      let capabilities = 0;
      if (c.ssadsSupported) capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
      if (!(dev.ats && c.dt)) capabilities |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
      if (dev.maxPasids > 0 && dev.pasidExec) capabilities |= IOMMU_HW_CAP_PCI_PASID_EXEC;
      if (dev.maxPasids > 0 && dev.pasidPriv) capabilities |= IOMMU_HW_CAP_PCI_PASID_PRIV;
      return {
        type: IOMMU_HW_INFO_TYPE_INTEL_VTD,
        data: { flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, capReg: dev.unit.regs.capReg, ecapReg: dev.unit.regs.ecapReg },
        maxPasidLog2: dev.maxPasids > 0 ? Math.log2(dev.maxPasids) : 0,
        capabilities,
      };
    });
  }

  allocIoas(flags = 0): number {
    return this.run('allocIoas', () => {
      if (checkU32('flags', flags) !== 0) fail('EOPNOTSUPP', 'IOAS_ALLOC flags must be 0 (iommufd_ioas_alloc_ioctl)');
      const ioas: IoasObject = { id: this.table.nextId(), seq: this.table.nextSeq(), type: 'ioas', users: 1, iopt: new IoPageTable(), hwpts: [] };
      this.table.insert(ioas);
      return ioas.id;
    });
  }

  ioasMap(ioasId: number, iova: bigint, length: bigint, hostAddr: bigint | undefined, flags: number): bigint {
    return this.run('ioasMap', () => {
      checkU32('ioasId', ioasId);
      checkU64('iova', iova);
      checkU64('length', length);
      if (hostAddr !== undefined) checkU64('hostAddr', hostAddr);
      checkU32('flags', flags);
      // iommufd_ioas_map
      if (flags & ~MAP_FLAGS) fail('EOPNOTSUPP', `unknown IOAS_MAP flags 0x${(flags & ~MAP_FLAGS).toString(16)} (iommufd_ioas_map)`);
      if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW', 'iova or length >= ULONG_MAX (iommufd_ioas_map)');
      if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) fail('EINVAL', 'neither READABLE nor WRITEABLE (iommufd_ioas_map)');
      const ioas = this.table.getTyped(ioasId, 'ioas', 'ioas_id');
      return ioas.iopt.map(iova, length, hostAddr, flags, {
        hostMemory: this.ctx.hostMemory,
        beforeDomainMap: () => this.injector.check('driver.map'),
      });
    });
  }

  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return this.run('ioasUnmap', () => {
      checkU32('ioasId', ioasId);
      checkU64('iova', iova);
      checkU64('length', length);
      const ioas = this.table.getTyped(ioasId, 'ioas', 'ioas_id');
      if (iova === 0n && length === U64_MAX) return ioas.iopt.unmapAll();
      if (iova >= ULONG_MAX || length >= ULONG_MAX) fail('EOVERFLOW', 'iova or length >= ULONG_MAX (iommufd_ioas_unmap)');
      if (length === 0n) fail('EINVAL', 'length 0 (iopt_unmap_iova)');
      if (iova + length - 1n > U64_MAX) fail('EOVERFLOW', 'iova + length - 1 overflows (iopt_unmap_iova)');
      const unmapped = ioas.iopt.unmapRange(iova, iova + length - 1n);
      if (unmapped === 0n) fail('ENOENT', 'nothing is mapped in the range (iommufd_ioas_unmap)');
      return unmapped;
    });
  }

  ioasIovaRanges(ioasId: number): IovaRanges {
    return this.run('ioasIovaRanges', () => this.table.getTyped(checkU32('ioasId', ioasId), 'ioas', 'ioas_id').iopt.iovaRanges());
  }

  ioasAllowIovas(ioasId: number, ranges: readonly IovaRange[]): void {
    this.run('ioasAllowIovas', () => {
      ranges.forEach((r, i) => {
        checkU64(`ranges[${i}].start`, r.start);
        checkU64(`ranges[${i}].last`, r.last);
      });
      this.table.getTyped(checkU32('ioasId', ioasId), 'ioas', 'ioas_id').iopt.setAllowed(ranges);
    });
  }

  allocHwpt(req: HwptAllocRequest): number {
    return this.run('allocHwpt', () => {
      checkU32('devId', req.devId);
      checkU32('ptId', req.ptId);
      if (req.flags !== undefined) checkU32('flags', req.flags);
      if (req.dataType !== undefined) checkU32('dataType', req.dataType);
      if (req.faultId !== undefined) checkU32('faultId', req.faultId);
      return hwptAlloc(this.ctx, req);
    });
  }

  attach(devId: number, ptId: number, pasid?: number): number {
    return this.run('attach', () => {
      const p = checkPasid(pasid);
      const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
      return deviceAttach(this.ctx, dev, p, checkU32('ptId', ptId));
    });
  }

  replace(devId: number, ptId: number, pasid?: number): number {
    return this.run('replace', () => {
      const p = checkPasid(pasid);
      const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
      return deviceReplace(this.ctx, dev, p, checkU32('ptId', ptId));
    });
  }

  detach(devId: number, pasid?: number): void {
    this.run('detach', () => {
      const p = checkPasid(pasid);
      const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
      detachHwpt(this.ctx, dev, p);
    });
  }

  invalidateHwpt(hwptId: number, entries: readonly VtdS1InvalidateEntry[] | null, options: InvalidateOptions = {}): number {
    return this.run('invalidateHwpt', () => {
      (entries ?? []).forEach((e, i) => {
        checkU64(`entries[${i}].addr`, e.addr);
        checkU64(`entries[${i}].npages`, e.npages);
      });
      try {
        const n = hwptInvalidate(this.ctx, checkU32('hwptId', hwptId), entries, options);
        this.invalidationEntries += n;
        return n;
      } catch (e) {
        if (e instanceof BackendError) this.invalidationEntries += e.applied ?? 0;
        throw e;
      }
    });
  }

  destroy(id: number): void {
    this.run('destroy', () => {
      const obj = this.table.get(checkU32('id', id));
      if (obj.users !== 1) {
        fail('EBUSY', `${obj.type} ${id} is in use (users ${obj.users})${obj.type === 'device' ? ': devices go away with VFIO unbind (removeDevice)' : ''} (iommufd_destroy)`);
      }
      switch (obj.type) {
        case 'ioas':
          obj.iopt.unmapAll(); // iommufd_ioas_destroy
          break;
        case 'hwpt_paging':
          teardownPagingHwpt(obj);
          break;
        case 'hwpt_nested':
          teardownNestedHwpt(obj);
          break;
        case 'fault':
        case 'device':
          break;
      }
      this.table.remove(obj);
    });
  }

  // ------------------------------------------------------------------ data path

  /**
   * One DMA request from `devId` (with `pasid`, or from the RID when undefined/0) through what
   * is attached. Faults are values.
   */
  dma(devId: number, pasid: number | undefined, iova: bigint, access: DmaAccess, options: DmaOptions = {}): DmaResult {
    const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
    if (pasid !== undefined) checkU32('pasid', pasid);
    checkU64('iova', iova);
    if (access !== 'r' && access !== 'w') throw new VtdArgumentError(`access must be 'r' or 'w', got ${String(access)}`);
    this.dmaRequests++;
    const hwpt = resolveAttachment(dev, pasid, iova);
    const r: DmaResult = 'stage' in hwpt
      ? { ok: false, fault: hwpt }
      : translateThrough(hwpt, iova, access === 'w', options.priv ?? false, options.exec ?? false, this.walker);
    if (!r.ok) this.dmaFaults++;
    return r;
  }

  /**
   * A batch of requests from one device and pasid (the benchmark's form): addresses into
   * `out.address`, 1/0 into `out.ok`. Returns the fault count and the arrays.
   */
  dmaBatch(
    devId: number, pasid: number | undefined, iovas: BigUint64Array | readonly bigint[], access: DmaAccess,
    options: DmaOptions & { out?: { address: BigUint64Array; ok: Uint8Array } } = {},
  ): DmaBatchResult {
    const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
    if (pasid !== undefined) checkU32('pasid', pasid);
    if (access !== 'r' && access !== 'w') throw new VtdArgumentError(`access must be 'r' or 'w', got ${String(access)}`);
    const n = iovas.length;
    const address = options.out?.address ?? new BigUint64Array(n);
    const ok = options.out?.ok ?? new Uint8Array(n);
    if (address.length < n || ok.length < n) throw new VtdArgumentError('out arrays are shorter than the batch');
    const write = access === 'w';
    const priv = options.priv ?? false;
    const exec = options.exec ?? false;
    // A typed array holds only u64 values; anything else is checked as dma() checks it.
    if (!(iovas instanceof BigUint64Array)) for (const iova of iovas) checkU64('iova', iova);
    let faults = 0;
    for (let i = 0; i < n; i++) {
      const iova = iovas[i]!;
      const hwpt = resolveAttachment(dev, pasid, iova);
      const r = 'stage' in hwpt ? undefined : translateThrough(hwpt, iova, write, priv, exec, this.walker);
      if (r?.ok) {
        address[i] = r.address;
        ok[i] = 1;
      } else {
        address[i] = 0n;
        ok[i] = 0;
        faults++;
      }
    }
    this.dmaRequests += n;
    this.dmaFaults += faults;
    return { faults, address, ok };
  }

  // ------------------------------------------------------------------ inspection and test hooks

  /** The HWPT `devId` is attached to on `pasid` (undefined/0 = RID), or undefined. */
  attachedHwpt(devId: number, pasid?: number): number | undefined {
    const dev = this.table.getTyped(checkU32('devId', devId), 'device', 'dev_id');
    const rec = dev.group.attach.get(checkPasid(pasid));
    return rec?.devices.has(dev) ? rec.hwpt.id : undefined;
  }

  /**
   * The invalidation entries IOMMU_HWPT_INVALIDATE applied to a nested HWPT (the last 1024,
   * oldest first) and their total count.
   */
  invalidations(hwptId: number): { total: number; entries: { addr: bigint; npages: bigint; flags: number }[] } {
    const h = this.table.getTyped(checkU32('hwptId', hwptId), 'hwpt_nested', 'hwpt_id');
    return { total: h.invalidated, entries: h.invalidationLog.map((e) => ({ ...e })) };
  }

  /** The IOAS's mappings (copies). */
  ioasMappings(ioasId: number): Area[] {
    return this.table.getTyped(checkU32('ioasId', ioasId), 'ioas', 'ioas_id').iopt.listAreas();
  }

  /** The object table, by id. */
  objects(): ObjectInfo[] {
    return this.table.all().map((o) => this.info(o));
  }

  private info(o: AnyObject): ObjectInfo {
    const base: ObjectInfo = { id: o.id, type: o.type, users: o.users };
    switch (o.type) {
      case 'hwpt_paging':
        return { ...base, parent: o.ioas.id, flags: o.flags, autoDomain: o.autoDomain, stage: o.domain.stage, ...(o.fault ? { fault: o.fault.id } : {}) };
      case 'hwpt_nested':
        return { ...base, parent: o.parent.id, flags: o.flags, data: { ...o.s1 }, ...(o.fault ? { fault: o.fault.id } : {}) };
      case 'device':
        return { ...base, attached: attachedPasids(o).map((pasid) => ({ pasid, hwptId: o.group.attach.get(pasid)!.hwpt.id })) };
      default:
        return base;
    }
  }

  stats(): SimStats {
    const byType: Record<ObjectType, number> = { ioas: 0, hwpt_paging: 0, hwpt_nested: 0, device: 0, fault: 0 };
    for (const o of this.table.all()) byType[o.type]++;
    let domainIds = 0;
    for (const u of this.units.values()) domainIds += u.dids.size;
    return {
      objects: this.table.size,
      byType,
      calls: structuredClone(this.counters),
      dma: { requests: this.dmaRequests, faults: this.dmaFaults },
      invalidationEntries: this.invalidationEntries,
      domainIds,
    };
  }

  /** The whole state as plain data (objects, IOAS contents, group attachments, domain ids). */
  state(): SimState {
    const ownerName = (owner: object, ioas: IoasObject): string => {
      const d = owner as DeviceObject;
      if (d.type === 'device') return `device ${d.id}`;
      const h = ioas.hwpts.find((x) => x.domain === owner);
      return h ? `hwpt ${h.id}` : 'unknown';
    };
    const all = this.table.all();
    return {
      objects: all.map((o) => this.info(o)),
      ioas: all.filter((o): o is IoasObject => o.type === 'ioas').map((o) => ({
        id: o.id,
        alignment: o.iopt.alignment,
        areas: o.iopt.listAreas(),
        reserved: o.iopt.listReserved().map((r) => ({ start: r.start, last: r.last, owner: ownerName(r.owner, o) })),
        allowed: o.iopt.listAllowed(),
        hwpts: o.hwpts.map((h) => h.id),
      })),
      groups: [...this.groups.values()].map((g) => ({
        name: g.name,
        devices: g.devices.map((d) => d.id),
        attach: [...g.attach].sort(([a], [b]) => a - b).map(([pasid, r]) => ({
          pasid, hwptId: r.hwpt.id, devices: [...r.devices].map((d) => d.id).sort((a, b) => a - b), hw: r.hwDevices.map((d) => d.id),
        })),
      })),
      units: [...this.units.values()].map((u) => ({
        name: u.name,
        dids: [...u.dids].map(([h, i]) => ({ hwptId: h.id, did: i.did, holders: [...i.holders].sort() })).sort((a, b) => a.did - b.did),
      })),
    };
  }

  /**
   * Recomputes every refcount from who holds what (§2.3) and checks that nothing points at an
   * object outside the table. Returns the violations (empty when consistent).
   */
  checkConsistency(): string[] {
    const errs: string[] = [];
    const all = this.table.all();
    const live = new Set<AnyObject>(all);
    const expected = new Map<AnyObject, number>(all.map((o) => [o, 1]));
    const add = (o: AnyObject, why: string, holder: string) => {
      if (!live.has(o)) errs.push(`${holder} holds ${why} ${o.type} ${o.id}, which is not in the table`);
      else expected.set(o, expected.get(o)! + 1);
    };
    for (const o of all) {
      if (o.type === 'hwpt_paging') {
        add(o.ioas, 'its IOAS', `hwpt ${o.id}`);
        if (!o.ioas.hwpts.includes(o)) errs.push(`hwpt ${o.id} is missing from IOAS ${o.ioas.id}'s hwpt list`);
        if (o.fault) add(o.fault, 'its fault', `hwpt ${o.id}`);
        if (o.autoDomain && o.users < 2) errs.push(`auto domain ${o.id} has no user`);
      } else if (o.type === 'hwpt_nested') {
        add(o.parent, 'its parent', `hwpt ${o.id}`);
        if (o.fault) add(o.fault, 'its fault', `hwpt ${o.id}`);
      } else if (o.type === 'device') {
        expected.set(o, expected.get(o)! + 1); // the bind
        if (!o.group.devices.includes(o) || this.groups.get(o.group.name) !== o.group) errs.push(`device ${o.id} is not in its group`);
      } else if (o.type === 'fault') {
        if (o.fdOpen) expected.set(o, expected.get(o)! + 1);
      } else if (o.type === 'ioas') {
        for (const h of o.hwpts) if (!live.has(h)) errs.push(`IOAS ${o.id} lists hwpt ${h.id}, which is not in the table`);
      }
    }
    for (const g of this.groups.values()) {
      for (const [pasid, rec] of g.attach) {
        if (rec.devices.size === 0) errs.push(`group ${g.name} pasid ${pasid} has an empty attach record`);
        for (const d of rec.devices) {
          if (!live.has(d)) errs.push(`group ${g.name} pasid ${pasid} lists device ${d.id}, which is not in the table`);
          else expected.set(d, expected.get(d)! + 1);
          add(rec.hwpt, 'an attachment to', `device ${d.id} pasid ${pasid}`);
        }
      }
    }
    for (const o of all) {
      if (o.users !== expected.get(o)) errs.push(`${o.type} ${o.id}: users ${o.users}, holders say ${expected.get(o)}`);
    }
    for (const u of this.units.values()) {
      for (const [h, info] of u.dids) {
        if (!live.has(h)) errs.push(`${u.name} keeps DID ${info.did} for hwpt ${h.id}, which is not in the table`);
        if (info.holders.size === 0) errs.push(`${u.name} keeps DID ${info.did} without holders`);
      }
    }
    for (const o of all) {
      if (o.type !== 'ioas') continue;
      for (const r of o.iopt.listReserved()) {
        const d = r.owner as DeviceObject;
        if (d.type === 'device') {
          const rid = d.group.attach.get(IOMMU_NO_PASID);
          if (!live.has(d) || !rid || !rid.devices.has(d) || findHwptPaging(rid.hwpt).ioas !== o) {
            errs.push(`IOAS ${o.id} keeps a reserved range of device ${d.id}, whose RID is not attached to it`);
          }
        } else if (!o.hwpts.some((h) => h.domain === r.owner)) {
          errs.push(`IOAS ${o.id} keeps a reserved range of a domain that is not in it`);
        }
      }
      if (o.iopt.domainCount !== o.hwpts.length) errs.push(`IOAS ${o.id} has ${o.iopt.domainCount} domains for ${o.hwpts.length} hwpts`);
    }
    return errs;
  }

  /** Make the next `count` calls of `point` fail with `errno` (count 0 disarms). */
  injectFault(point: FaultInjectPoint, errno: Errno, count = 1): void {
    this.injector.arm(point, errno, count);
  }

  /** Armed fault-injection points and their remaining shots. */
  pendingFaults(): Partial<Record<FaultInjectPoint, number>> {
    return this.injector.pending();
  }

  /**
   * Close the iommufd: unbind every device, close fault fds, then destroy all objects leaf
   * first (iommufd_fops_release). Afterwards the table is empty.
   */
  close(): void {
    this.injector.clear();
    for (const o of this.table.all()) if (o.type === 'device') this.removeDevice(o.id);
    for (const o of this.table.all()) if (o.type === 'fault') this.closeFaultQueue(o.id);
    for (;;) {
      const leaves = this.table.all().filter((o) => o.users === 1);
      if (leaves.length === 0) break;
      for (const o of leaves) if (this.table.peek(o.id) === o && o.users === 1) this.destroy(o.id);
    }
    if (this.table.size) throw new Error(`internal: ${this.table.size} objects survive close()`);
  }
}
