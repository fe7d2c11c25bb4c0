/**
 * Devices and their attachments (§6): the per-group, per-PASID attach records, attach /
 * replace / detach with the iommufd core's rules (EBUSY, EINVAL, PASID compat, reserved
 * regions, auto domains), the IOMMU core's PASID checks, and the Intel driver's attach-time
 * checks and domain-id accounting.
 */
import { type AnyObject, type HwptObject, type SimContext, Undo } from './context.js';
import { BackendError, fail } from './errors.js';
import type { HostCaps, HostVtdRegs } from './host-caps.js';
import {
  allocPagingHwpt, findHwptPaging, type HwptPagingObject, nestedSetupIncompatibility, pagingDomainIncompatibility,
  teardownPagingHwpt,
} from './hwpt.js';
import type { IoasObject } from './ioas.js';
import { type BaseObject, hold, release } from './objects.js';
import { IOMMU_NO_PASID, type IovaRange } from './types.js';

/** The Intel IOAPIC/MSI window every VT-d device reserves on its RID (intel_iommu_get_resv_regions). */
export const MSI_WINDOW: Readonly<IovaRange> = Object.freeze({ start: 0xfee0_0000n, last: 0xfeef_ffffn });

/** A host VT-d unit: its registers and the domain ids it has handed out. */
export interface IommuUnit {
  readonly name: string;
  readonly regs: HostVtdRegs;
  readonly caps: HostCaps;
  /** domain_attach_iommu: one DID per domain, held by every (device, pasid) the domain is set on. */
  readonly dids: Map<HwptObject, { did: number; holders: Set<string> }>;
}

/** The per-PASID attach record of a group (struct iommufd_attach). */
export interface AttachRecord {
  hwpt: HwptObject;
  /** device_array: the devices attached through iommufd. */
  readonly devices: Set<DeviceObject>;
  /** Group devices the hardware attach was done on (they hold a DID of the hwpt). */
  hwDevices: DeviceObject[];
}

export interface Group {
  readonly name: string;
  readonly devices: DeviceObject[];
  /** igroup->pasid_attach, 0 = the RID. */
  readonly attach: Map<number, AttachRecord>;
}

/** IOMMUFD_OBJ_DEVICE (a VFIO-bound device). */
export interface DeviceObject extends BaseObject {
  readonly type: 'device';
  readonly name: string;
  readonly unit: IommuUnit;
  readonly group: Group;
  /** dev->iommu->max_pasids = min(PCI PASID capability, unit's max_pasids). */
  readonly maxPasids: number;
  /** PRI enabled (with ECAP.PRS): IOPF-capable HWPTs can be attached. */
  readonly pri: boolean;
  readonly ats: boolean;
  readonly pasidExec: boolean;
  readonly pasidPriv: boolean;
  /** idev->enforce_cache_coherency (IOMMU_CAP_ENFORCE_CACHE_COHERENCY). */
  readonly enforceCacheCoherency: boolean;
  /** Reserved regions enforced on the RID's IOAS: the MSI window and the RMRRs. */
  readonly reservedRegions: readonly IovaRange[];
}

const holderKey = (dev: DeviceObject, pasid: number) => `${dev.id}:${pasid}`;

// ---------------------------------------------------------------- the Intel driver

/** domain_attach_iommu: a DID for (domain, unit), lowest free from 2 (ENOSPC when none). */
function takeDid(dev: DeviceObject, hwpt: HwptObject, pasid: number): () => void {
  const unit = dev.unit;
  const key = holderKey(dev, pasid);
  let info = unit.dids.get(hwpt);
  if (!info) {
    const used = new Set([...unit.dids.values()].map((i) => i.did));
    let did = 2;
    while (did < unit.caps.ndoms && used.has(did)) did++;
    if (did >= unit.caps.ndoms) fail('ENOSPC', `no free domain id on ${unit.name} (CAP.ND: ${unit.caps.ndoms} ids) (domain_attach_iommu)`);
    info = { did, holders: new Set() };
    unit.dids.set(hwpt, info);
  }
  const fresh = !info.holders.has(key);
  info.holders.add(key);
  return () => {
    if (fresh) dropDid(dev, hwpt, pasid);
  };
}

function dropDid(dev: DeviceObject, hwpt: HwptObject, pasid: number): void {
  const info = dev.unit.dids.get(hwpt);
  if (!info) return;
  info.holders.delete(holderKey(dev, pasid));
  if (info.holders.size === 0) dev.unit.dids.delete(hwpt);
}

/**
 * The driver's attach of `hwpt` to one device on `pasid` (intel_iommu_attach_device,
 * intel_nested_attach_dev, intel_iommu_set_dev_pasid, intel_nested_set_dev_pasid), in the
 * driver's order. Returns its undo.
 */
function driverAttachDevice(dev: DeviceObject, hwpt: HwptObject, pasid: number): () => void {
  const caps = dev.unit.caps;
  const paging = findHwptPaging(hwpt);
  if (pasid !== IOMMU_NO_PASID) {
    if (!caps.pasidSupported) fail('EOPNOTSUPP', `${dev.unit.name} has no PASID support (set_dev_pasid)`);
    if (hwpt.type === 'hwpt_paging' && hwpt.domain.dirty) {
      fail('EINVAL', 'a dirty-tracking domain cannot be attached to a PASID (intel_iommu_set_dev_pasid)');
    }
  }
  const why = pagingDomainIncompatibility(paging.domain, caps);
  if (why) fail('EINVAL', `${hwpt.type === 'hwpt_nested' ? `parent HWPT ${paging.id}: ` : ''}${why} (paging_domain_compatible)`);
  const undo = takeDid(dev, hwpt, pasid);
  try {
    if (hwpt.fault && !(dev.pri && caps.prs)) {
      fail('ENODEV', 'a HWPT with a fault queue on a device without PRI (iopf_for_domain_set)');
    }
    if (hwpt.type === 'hwpt_nested') {
      const bad = nestedSetupIncompatibility(hwpt.s1, caps);
      if (bad) fail('EINVAL', `${bad} (intel_pasid_setup_nested)`);
    }
  } catch (e) {
    undo();
    throw e;
  }
  return undo;
}

/**
 * The IOMMU core's attach of `hwpt` to the whole group on `pasid` (iommu_attach_group_handle,
 * iommu_attach_device_pasid, and their replace forms). Returns the devices it was done on.
 */
function hwAttachGroup(ctx: SimContext, group: Group, hwpt: HwptObject, pasid: number): DeviceObject[] {
  let targets = group.devices;
  if (pasid !== IOMMU_NO_PASID) {
    for (const d of group.devices) {
      if (d.maxPasids > 0 && pasid >= d.maxPasids) {
        fail('EINVAL', `pasid ${pasid} is beyond device ${d.id}'s ${d.maxPasids} PASIDs (iommu_attach_device_pasid)`);
      }
    }
    // Devices without PASID support (max_pasids = 0) are skipped (upstream b3f6fcd8404f).
    targets = group.devices.filter((d) => d.maxPasids > 0);
  }
  ctx.injectPoint('driver.attach');
  const undo = new Undo();
  try {
    for (const d of targets) undo.push(driverAttachDevice(d, hwpt, pasid));
  } catch (e) {
    undo.run();
    throw e;
  }
  return targets;
}

function hwDetachGroup(rec: AttachRecord, pasid: number): void {
  for (const d of rec.hwDevices) dropDid(d, rec.hwpt, pasid);
  rec.hwDevices = [];
}

// ---------------------------------------------------------------- iommufd core

/** iommufd_hwpt_pasid_compat (§6.3). */
function checkPasidCompat(hwpt: HwptObject, group: Group, pasid: number): void {
  if (pasid === IOMMU_NO_PASID) {
    const pasidInUse = [...group.attach.keys()].some((p) => p !== IOMMU_NO_PASID);
    if (!hwpt.pasidCompat && pasidInUse) {
      fail('EINVAL', `HWPT ${hwpt.id} was allocated without ALLOC_PASID and PASIDs of the group are attached (iommufd_hwpt_pasid_compat)`);
    }
  } else {
    if (!hwpt.pasidCompat) fail('EINVAL', `HWPT ${hwpt.id} was allocated without ALLOC_PASID (iommufd_hwpt_pasid_compat)`);
    const rid = group.attach.get(IOMMU_NO_PASID);
    if (rid && !rid.hwpt.pasidCompat) {
      fail('EINVAL', `the RID is attached to HWPT ${rid.hwpt.id}, allocated without ALLOC_PASID (iommufd_hwpt_pasid_compat)`);
    }
  }
}

/** iopt_table_enforce_dev_resv_regions: the device's reserved regions into `ioas`. */
function enforceReservedRegions(dev: DeviceObject, ioas: IoasObject): () => void {
  try {
    for (const r of dev.reservedRegions) ioas.iopt.reserve(r.start, r.last, dev, `device ${dev.id}'s reserved region`);
  } catch (e) {
    ioas.iopt.removeReserved(dev);
    throw e;
  }
  return () => ioas.iopt.removeReserved(dev);
}

/** iommufd_hw_pagetable_attach. */
export function doAttach(ctx: SimContext, dev: DeviceObject, pasid: number, hwpt: HwptObject): void {
  const group = dev.group;
  const rec = group.attach.get(pasid);
  if (rec?.devices.has(dev)) fail('EBUSY', `device ${dev.id} is already attached on pasid ${pasid}: use replace (iommufd_hw_pagetable_attach)`);
  if (rec && rec.hwpt !== hwpt) {
    fail('EINVAL', `the group is attached to HWPT ${rec.hwpt.id} on pasid ${pasid}; its devices must share it (iommufd_hw_pagetable_attach)`);
  }
  const undo = new Undo();
  try {
    const paging = findHwptPaging(hwpt);
    if (pasid === IOMMU_NO_PASID) undo.push(enforceReservedRegions(dev, paging.ioas));
    let record = rec;
    if (!record) {
      // iommufd_hwpt_attach_device, for the first device of the group on this pasid
      checkPasidCompat(hwpt, group, pasid);
      const hwDevices = hwAttachGroup(ctx, group, hwpt, pasid);
      record = { hwpt, devices: new Set(), hwDevices };
      group.attach.set(pasid, record);
    }
    record.devices.add(dev);
    hold(hwpt);
  } catch (e) {
    undo.run();
    throw e;
  }
}

/** iommufd_device_do_replace. Returns the old HWPT for the caller to put, or null for a no-op. */
export function doReplace(ctx: SimContext, dev: DeviceObject, pasid: number, hwpt: HwptObject): HwptObject | null {
  const group = dev.group;
  const rec = group.attach.get(pasid);
  if (!rec) fail('EINVAL', `nothing is attached on pasid ${pasid}: attach first (iommufd_device_do_replace)`);
  if (!rec.devices.has(dev)) fail('EINVAL', `device ${dev.id} is not attached on pasid ${pasid} (iommufd_device_do_replace)`);
  const old = rec.hwpt;
  if (old === hwpt) return null;
  const newPaging = findHwptPaging(hwpt);
  const oldPaging = findHwptPaging(old);
  const ioasChanges = newPaging.ioas !== oldPaging.ioas;
  const undo = new Undo();
  let hwDevices: DeviceObject[];
  try {
    if (pasid === IOMMU_NO_PASID && ioasChanges) {
      // iommufd_group_do_replace_reserved_iova
      for (const d of rec.devices) undo.push(enforceReservedRegions(d, newPaging.ioas));
    }
    // iommufd_hwpt_replace_device
    checkPasidCompat(hwpt, group, pasid);
    hwDevices = hwAttachGroup(ctx, group, hwpt, pasid);
  } catch (e) {
    undo.run();
    throw e;
  }
  hwDetachGroup(rec, pasid);
  rec.hwDevices = hwDevices;
  if (pasid === IOMMU_NO_PASID && ioasChanges) {
    for (const d of rec.devices) oldPaging.ioas.iopt.removeReserved(d);
  }
  rec.hwpt = hwpt;
  // The device_array's references move to the new HWPT; one stays on the old for the caller to put.
  const n = rec.devices.size;
  hwpt.users += n;
  old.users -= n - 1;
  return old;
}

/**
 * iommufd_hw_pagetable_put: drop a reference; an auto domain whose last user this was is
 * destroyed (iommufd_object_put_and_try_destroy).
 */
export function putHwpt(ctx: SimContext, hwpt: HwptObject): void {
  release(hwpt);
  if (hwpt.type === 'hwpt_paging' && hwpt.autoDomain && hwpt.users === 1) {
    teardownPagingHwpt(hwpt);
    ctx.table.remove(hwpt);
  }
}

/** iommufd_device_auto_get_domain. Returns the HWPT id attached. */
function autoGetDomain(ctx: SimContext, dev: DeviceObject, pasid: number, ioas: IoasObject, mode: 'attach' | 'replace'): number {
  for (const hwpt of [...ioas.hwpts]) {
    if (!hwpt.autoDomain) continue;
    try {
      if (mode === 'attach') {
        doAttach(ctx, dev, pasid, hwpt);
      } else {
        const old = doReplace(ctx, dev, pasid, hwpt);
        if (old) putHwpt(ctx, old);
      }
      return hwpt.id;
    } catch (e) {
      // EINVAL means "incompatible": try the next auto domain
      if (e instanceof BackendError && e.errno === 'EINVAL') continue;
      throw e;
    }
  }
  // Nothing fits: a new domain with flags 0 (so never PASID-compatible, never a nest parent)
  const hwpt: HwptPagingObject = allocPagingHwpt(ctx, ioas, dev, 0, undefined, mode === 'attach'
    ? (h) => {
      doAttach(ctx, dev, pasid, h);
      return () => void detachHwpt(ctx, dev, pasid, false);
    }
    : undefined);
  let old: HwptObject | null = null;
  if (mode === 'replace') {
    try {
      old = doReplace(ctx, dev, pasid, hwpt);
    } catch (e) {
      teardownPagingHwpt(hwpt);
      throw e;
    }
  }
  hwpt.autoDomain = true;
  ctx.table.insert(hwpt);
  if (old) putHwpt(ctx, old);
  return hwpt.id;
}

/** iommufd_device_change_pt's lookup and dispatch. */
function lookupPt(ctx: SimContext, ptId: number): HwptObject | IoasObject {
  const pt = ctx.table.get(ptId, 'pt_id') as AnyObject;
  if (pt.type === 'hwpt_paging' || pt.type === 'hwpt_nested' || pt.type === 'ioas') return pt;
  return fail('EINVAL', `pt_id ${ptId} is a ${pt.type}, not a HWPT or an IOAS (iommufd_device_change_pt)`);
}

/** iommufd_device_attach. */
export function deviceAttach(ctx: SimContext, dev: DeviceObject, pasid: number, ptId: number): number {
  const pt = lookupPt(ctx, ptId);
  let id: number;
  if (pt.type === 'ioas') {
    id = autoGetDomain(ctx, dev, pasid, pt, 'attach');
  } else {
    doAttach(ctx, dev, pasid, pt);
    id = pt.id;
  }
  hold(dev); // pairs with iommufd_device_detach
  return id;
}

/** iommufd_device_replace. */
export function deviceReplace(ctx: SimContext, dev: DeviceObject, pasid: number, ptId: number): number {
  const pt = lookupPt(ctx, ptId);
  if (pt.type === 'ioas') return autoGetDomain(ctx, dev, pasid, pt, 'replace');
  const old = doReplace(ctx, dev, pasid, pt);
  if (old) putHwpt(ctx, old);
  return pt.id;
}

/**
 * iommufd_hw_pagetable_detach + put. Returns false when the device was not attached on
 * `pasid` (a no-op, as VFIO makes it). `dropDeviceRef` is iommufd_device_detach's refcount_dec.
 */
export function detachHwpt(ctx: SimContext, dev: DeviceObject, pasid: number, dropDeviceRef = true): boolean {
  const group = dev.group;
  const rec = group.attach.get(pasid);
  if (!rec || !rec.devices.has(dev)) return false;
  const hwpt = rec.hwpt;
  rec.devices.delete(dev);
  if (rec.devices.size === 0) {
    // RID -> the group's blocking domain; PASID -> the driver's blocked domain
    hwDetachGroup(rec, pasid);
    group.attach.delete(pasid);
  }
  if (pasid === IOMMU_NO_PASID) findHwptPaging(hwpt).ioas.iopt.removeReserved(dev);
  putHwpt(ctx, hwpt);
  if (dropDeviceRef) release(dev);
  return true;
}

/** The pasids `dev` is attached on through iommufd, ascending (0 = RID). */
export function attachedPasids(dev: DeviceObject): number[] {
  return [...dev.group.attach].filter(([, r]) => r.devices.has(dev)).map(([p]) => p).sort((a, b) => a - b);
}
