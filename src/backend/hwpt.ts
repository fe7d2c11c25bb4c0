/**
 * HW pagetables (§5, §7): IOMMU_HWPT_ALLOC (paging and nested) with the iommufd core's checks
 * and the Intel driver's, the domain properties the driver checks again at attach
 * (paging_domain_compatible, intel_pasid_setup_nested), HWPT destruction, and
 * IOMMU_HWPT_INVALIDATE with VT-d stage-1 entries.
 */
import { type AnyObject, type HwptObject, type SimContext, Undo } from './context.js';
import type { DeviceObject } from './device.js';
import { BackendError, fail } from './errors.js';
import type { HostCaps } from './host-caps.js';
import { type IoasObject, type IoptDomain, U64_MAX } from './ioas.js';
import { type BaseObject, hold, release } from './objects.js';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_HWPT_VTD_S1_INVALIDATE_SIZE,
  IOMMU_HWPT_VTD_S1_SIZE, IOMMU_VTD_INV_FLAGS_LEAF, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE, type HwptAllocRequest,
  type HwptUserData, type InvalidateOptions, UnreadableUserData, type VtdS1Data, type VtdS1InvalidateEntry,
} from './types.js';

/** The Intel driver's dmar_domain for a paging HWPT, as far as the kernel's checks read it. */
export interface PagingDomain extends IoptDomain {
  /** First stage (flags 0 / ALLOC_PASID on FS hardware) or second stage (NEST_PARENT, DIRTY). */
  readonly stage: 'first' | 'second';
  /** Input address width (generic_pt max_vasz_lg2). */
  readonly vasz: number;
  /** domain->dirty_ops (allocated with DIRTY_TRACKING). */
  readonly dirty: boolean;
  /** dmar_domain->nested_parent. */
  readonly nestParent: boolean;
  /** force_snooping (enforce_cache_coherency took effect at allocation). */
  forceSnooping: boolean;
  /** iommu_coherency: page-walk coherency of the allocating unit. */
  readonly coherent: boolean;
  /** iotlb_sync_map (RWBF, or caching mode for second stage). */
  readonly iotlbSyncMap: boolean;
  /** pgsize_bitmap has 2 MiB / 1 GiB. */
  readonly has2M: boolean;
  readonly has1G: boolean;
}

/** IOMMUFD_OBJ_FAULT: a fault queue; its fd holds a users reference while open. */
export interface FaultObject extends BaseObject {
  readonly type: 'fault';
  fdOpen: boolean;
}

interface HwptCommon extends BaseObject {
  readonly flags: number;
  /** hwpt->pasid_compat = ALLOC_PASID. */
  readonly pasidCompat: boolean;
  /** hwpt->fault (FAULT_ID_VALID). */
  fault: FaultObject | undefined;
}

/** IOMMUFD_OBJ_HWPT_PAGING. */
export interface HwptPagingObject extends HwptCommon {
  readonly type: 'hwpt_paging';
  readonly ioas: IoasObject;
  autoDomain: boolean;
  readonly nestParent: boolean;
  readonly domain: PagingDomain;
}

/** IOMMUFD_OBJ_HWPT_NESTED (VT-d stage 1 on a nest parent). */
export interface HwptNestedObject extends HwptCommon {
  readonly type: 'hwpt_nested';
  readonly parent: HwptPagingObject;
  /** s1_cfg, copied verbatim. */
  readonly s1: Readonly<VtdS1Data>;
  /** Invalidation entries applied so far (IOMMU_HWPT_INVALIDATE). */
  invalidated: number;
  /** The most recent applied entries (at most INVALIDATION_LOG_SIZE), oldest first. */
  readonly invalidationLog: Required<Pick<VtdS1InvalidateEntry, 'addr' | 'npages' | 'flags'>>[];
}

/** find_hwpt_paging: a paging HWPT is itself; a nested one has its parent. */
export function findHwptPaging(hwpt: HwptObject): HwptPagingObject {
  return hwpt.type === 'hwpt_paging' ? hwpt : hwpt.parent;
}

// ---------------------------------------------------------------- user data (copy_struct_from_user)

/** `data_len` of HWPT_ALLOC for this data. */
export function userDataLength(data: HwptUserData | undefined): number {
  if (data === undefined) return 0;
  if (data instanceof Uint8Array) return data.byteLength;
  if (data instanceof UnreadableUserData) return data.length;
  return IOMMU_HWPT_VTD_S1_SIZE;
}

/** iommu_copy_struct_from_user(&vtd, user_data, IOMMU_HWPT_DATA_VTD_S1, __reserved). */
function copyVtdS1(data: HwptUserData): VtdS1Data {
  const len = userDataLength(data);
  if (len !== IOMMU_HWPT_VTD_S1_SIZE) {
    fail('EINVAL', `data_len ${len} is not sizeof(struct iommu_hwpt_vtd_s1) = 24 (__iommu_copy_struct_from_user)`);
  }
  if (data instanceof UnreadableUserData) fail('EFAULT', 'data_uptr cannot be read (copy_from_user)');
  if (data instanceof Uint8Array) {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return {
      flags: Number(dv.getBigUint64(0, true) & 0xffff_ffffn),
      pgtblAddr: dv.getBigUint64(8, true),
      addrWidth: dv.getUint32(16, true),
      reserved: dv.getUint32(20, true),
    };
  }
  return { flags: data.flags, pgtblAddr: data.pgtblAddr, addrWidth: data.addrWidth, reserved: data.reserved ?? 0 };
}

// ---------------------------------------------------------------- the Intel driver

const mgawVasz = (c: HostCaps, cap: number) => Math.min(cap, c.mgaw);

/**
 * intel_iommu_domain_alloc_paging_flags (flags without FAULT_ID_VALID): first stage when it
 * can, else second stage (§5.3). `rules: 'smmuv3'` first applies the SMMUv3 flag whitelist.
 */
export function driverAllocPagingDomain(caps: HostCaps, flags: number, hasUserData: boolean, rules: SimContext['pagingFlagRules']): PagingDomain {
  if (hasUserData) fail('EOPNOTSUPP', 'VT-d paging domains take no driver data (intel_iommu_domain_alloc_paging_flags)');
  const NP = IOMMU_HWPT_ALLOC_NEST_PARENT;
  const DIRTY = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  const PASID = IOMMU_HWPT_ALLOC_PASID;
  if (rules === 'smmuv3' && ![0, NP, DIRTY, DIRTY | PASID, PASID].includes(flags)) {
    fail('EOPNOTSUPP', `flags 0x${flags.toString(16)} are not one of 0, NEST_PARENT, DIRTY_TRACKING, DIRTY_TRACKING|PASID, PASID ` +
      '(SMMUv3-like host: arm_smmu_domain_alloc_paging_flags)');
  }
  const base = { minPageSize: 4096n, coherent: caps.pagingCoherent, forceSnooping: false };
  // intel_iommu_domain_alloc_first_stage
  if ((flags & ~PASID) === 0 && caps.sm && caps.flts) {
    const vasz = caps.mgaw > 48 && caps.fl5lp ? mgawVasz(caps, 57) : mgawVasz(caps, 48);
    return {
      ...base, stage: 'first', vasz, aperture: { start: 0n, last: (1n << BigInt(vasz - 1)) - 1n }, dirty: false,
      nestParent: false, forceWriteable: false, iotlbSyncMap: caps.rwbf, has2M: true, has1G: caps.fs1gp,
    };
  }
  // intel_iommu_domain_alloc_second_stage
  if (flags & ~(NP | DIRTY | PASID)) fail('EOPNOTSUPP', 'unsupported flags (intel_iommu_domain_alloc_second_stage)');
  if (flags & NP && !caps.nestedSupported) fail('EOPNOTSUPP', 'NEST_PARENT needs scalable mode and ECAP.NEST (intel_iommu_domain_alloc_second_stage)');
  if (flags & DIRTY && !caps.ssadsSupported) fail('EOPNOTSUPP', 'DIRTY_TRACKING needs ECAP.SLADS and ECAP.SMPWC (intel_iommu_domain_alloc_second_stage)');
  if (caps.sm && !caps.slts) fail('EOPNOTSUPP', 'scalable mode without ECAP.SLTS has no second stage (intel_iommu_domain_alloc_second_stage)');
  // compute_vasz_lg2_ss
  let vasz = 0;
  if (caps.mgaw > 48 && caps.sagaw & 0b1000) vasz = mgawVasz(caps, 57);
  else if (caps.mgaw > 39 && caps.sagaw >= 0b100) vasz = mgawVasz(caps, 48);
  else if (caps.mgaw > 30 && caps.sagaw >= 0b10) vasz = mgawVasz(caps, 39);
  if (vasz === 0) fail('EOPNOTSUPP', 'no usable second-stage AGAW in CAP.SAGAW/MGAW (compute_vasz_lg2_ss)');
  return {
    ...base, stage: 'second', vasz, aperture: { start: 0n, last: (1n << BigInt(vasz)) - 1n }, dirty: (flags & DIRTY) !== 0,
    nestParent: (flags & NP) !== 0, forceWriteable: (flags & NP) !== 0, iotlbSyncMap: caps.rwbf || caps.cm,
    has2M: (caps.sllps & 1) !== 0, has1G: (caps.sllps & 2) !== 0,
  };
}

/** Levels of a second-stage table covering `vasz` bits (3 for 39, 4 for 48, 5 for 57). */
const ssLevels = (vasz: number) => Math.ceil((vasz - 12) / 9);

/** paging_domain_compatible: why `d` cannot be attached to a device on a unit with `caps`, or undefined. */
export function pagingDomainIncompatibility(d: PagingDomain, caps: HostCaps): string | undefined {
  if (d.stage === 'first') {
    if (!caps.sm || !caps.flts) return 'a first-stage domain needs scalable mode and ECAP.FLTS';
    if (d.has1G && !caps.fs1gp) return 'the domain uses 1 GiB first-stage pages and CAP.FS1GP is clear';
    if (caps.rwbf && !d.iotlbSyncMap) return 'iotlb_sync_map requirement differs';
    if (d.vasz > 48 && !caps.fl5lp) return 'the domain is wider than 48 bits and CAP.FL5LP is clear';
  } else {
    if (d.dirty && !caps.ssadsSupported) return 'a dirty-tracking domain needs ECAP.SLADS and ECAP.SMPWC';
    if (d.nestParent && !caps.nestedSupported) return 'a nest parent needs ECAP.NEST';
    if (caps.sm && !caps.slts) return 'a second-stage domain needs ECAP.SLTS';
    if (d.has2M && !(caps.sllps & 1)) return 'the domain uses 2 MiB pages and CAP.SLLPS lacks them';
    if (d.has1G && !(caps.sllps & 2)) return 'the domain uses 1 GiB pages and CAP.SLLPS lacks them';
    if ((caps.rwbf || caps.cm) && !d.iotlbSyncMap) return 'iotlb_sync_map requirement differs (caching mode)';
    if (caps.mgaw < d.vasz) return `the domain is ${d.vasz} bits wide and CAP.MGAW is ${caps.mgaw}`;
    if (!(caps.sagaw & (1 << (ssLevels(d.vasz) - 2)))) return `CAP.SAGAW lacks ${ssLevels(d.vasz)}-level tables`;
  }
  if (d.forceSnooping && !caps.sc) return 'the domain enforces cache coherency and ECAP.SC is clear';
  if (d.coherent !== caps.pagingCoherent) return 'page-walk coherency (ECAP.SMPWC) differs';
  return undefined;
}

/** intel_pasid_setup_nested: why the S1 data cannot be installed on a unit with `caps`, or undefined. */
export function nestedSetupIncompatibility(s1: Readonly<VtdS1Data>, caps: HostCaps): string | undefined {
  if (s1.addrWidth === 57) {
    if (!caps.fl5lp) return 'addr_width 57 needs CAP.FL5LP';
  } else if (s1.addrWidth !== 48) {
    return `addr_width ${s1.addrWidth} is neither 48 nor 57`;
  }
  if (s1.flags & IOMMU_VTD_S1_SRE && !caps.srs) return 'SRE needs ECAP.SRS';
  if (s1.flags & IOMMU_VTD_S1_EAFE && !caps.eafs) return 'EAFE needs ECAP.EAFS';
  return undefined;
}

// ---------------------------------------------------------------- IOMMU_HWPT_ALLOC

function newId(ctx: SimContext) {
  return { id: ctx.table.nextId(), seq: ctx.table.nextSeq() };
}

/**
 * iommufd_hwpt_paging_alloc. The returned HWPT is in its IOAS but not in the object table
 * (the caller finalizes it with `ctx.table.insert`, or aborts it with `abortPagingHwpt`).
 * `immediateAttach` runs between the driver allocation and iopt_table_add_domain, as the
 * kernel's auto-domain attach path does; its own undo is its business.
 */
export function allocPagingHwpt(
  ctx: SimContext, ioas: IoasObject, dev: DeviceObject, flags: number, userData: HwptUserData | undefined,
  immediateAttach?: (hwpt: HwptPagingObject) => () => void,
): HwptPagingObject {
  const valid = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~valid) fail('EOPNOTSUPP', `unknown HWPT flags 0x${(flags & ~valid).toString(16)} (iommufd_hwpt_paging_alloc)`);
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !dev.unit.caps.ssadsSupported) {
    fail('EOPNOTSUPP', 'DIRTY_TRACKING on a device without IOMMU_CAP_DIRTY_TRACKING (iommufd_hwpt_paging_alloc)');
  }
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) {
    fail('EOPNOTSUPP', 'FAULT_ID_VALID together with NEST_PARENT (iommufd_hwpt_paging_alloc)');
  }
  const { id, seq } = newId(ctx);
  ctx.injectPoint('driver.domainAlloc');
  const domain = driverAllocPagingDomain(dev.unit.caps, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData !== undefined, ctx.pagingFlagRules);
  // idev->enforce_cache_coherency -> domain->ops->enforce_cache_coherency (Intel: always succeeds)
  if (dev.enforceCacheCoherency) domain.forceSnooping = true;
  const hwpt: HwptPagingObject = {
    id, seq, type: 'hwpt_paging', users: 1, flags, ioas, autoDomain: false,
    nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0, pasidCompat: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
    fault: undefined, domain,
  };
  const undo = new Undo();
  try {
    if (immediateAttach) undo.push(immediateAttach(hwpt));
    ioas.iopt.addDomain(domain, { hostMemory: ctx.hostMemory, beforeDomainMap: () => ctx.injectPoint('driver.map') });
  } catch (e) {
    undo.run();
    throw e;
  }
  hold(ioas);
  ioas.hwpts.push(hwpt);
  return hwpt;
}

/** Take a paging HWPT out of its IOAS (its destroy, or the abort of a failed allocation). */
export function teardownPagingHwpt(hwpt: HwptPagingObject): void {
  const list = hwpt.ioas.hwpts;
  list.splice(list.indexOf(hwpt), 1);
  hwpt.ioas.iopt.removeDomain(hwpt.domain);
  release(hwpt.ioas);
  if (hwpt.fault) release(hwpt.fault);
}

/** iommufd_hwpt_nested_alloc + intel_iommu_domain_alloc_nested. Not inserted in the table. */
export function allocNestedHwpt(
  ctx: SimContext, parent: HwptPagingObject, dev: DeviceObject, flags: number, dataType: number, data: HwptUserData | undefined,
): HwptNestedObject {
  if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) {
    fail('EOPNOTSUPP', 'a nested HWPT takes only FAULT_ID_VALID and ALLOC_PASID (iommufd_hwpt_nested_alloc)');
  }
  if (userDataLength(data) === 0) fail('EOPNOTSUPP', 'a nested HWPT needs driver data (iommufd_hwpt_nested_alloc)');
  if (parent.autoDomain) fail('EINVAL', `parent HWPT ${parent.id} is an auto domain (iommufd_hwpt_nested_alloc)`);
  if (!parent.nestParent) fail('EINVAL', `parent HWPT ${parent.id} was not allocated with NEST_PARENT (iommufd_hwpt_nested_alloc)`);
  const { id, seq } = newId(ctx);
  ctx.injectPoint('driver.domainAlloc');
  // intel_iommu_domain_alloc_nested
  const caps = dev.unit.caps;
  const driverFlags = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
  if (!caps.nestedSupported || driverFlags & ~IOMMU_HWPT_ALLOC_PASID) {
    fail('EOPNOTSUPP', 'the device\'s IOMMU has no nested translation (scalable mode + ECAP.NEST) (intel_iommu_domain_alloc_nested)');
  }
  if (dataType !== IOMMU_HWPT_DATA_VTD_S1) fail('EOPNOTSUPP', `data type ${dataType} is not IOMMU_HWPT_DATA_VTD_S1 (intel_iommu_domain_alloc_nested)`);
  if (parent.domain.stage !== 'second' || !parent.domain.nestParent) {
    fail('EINVAL', 'the parent is not a second-stage nest-parent domain (intel_iommu_domain_alloc_nested)');
  }
  const s1 = Object.freeze(copyVtdS1(data!));
  hold(parent);
  return {
    id, seq, type: 'hwpt_nested', users: 1, flags, pasidCompat: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0, fault: undefined,
    parent, s1, invalidated: 0, invalidationLog: [],
  };
}

/** Take a nested HWPT off its parent (destroy or abort). */
export function teardownNestedHwpt(hwpt: HwptNestedObject): void {
  release(hwpt.parent);
  if (hwpt.fault) release(hwpt.fault);
}

/** iommufd_hwpt_alloc (§5.2). Returns the new HWPT's id. */
export function hwptAlloc(ctx: SimContext, req: HwptAllocRequest): number {
  const flags = req.flags ?? 0;
  const data = req.data;
  const dataLen = userDataLength(data);
  const dataType = req.dataType ?? (data === undefined ? IOMMU_HWPT_DATA_NONE : IOMMU_HWPT_DATA_VTD_S1);
  if (dataType === IOMMU_HWPT_DATA_NONE && dataLen !== 0) fail('EINVAL', 'data given with IOMMU_HWPT_DATA_NONE (iommufd_hwpt_alloc)');
  if (dataType !== IOMMU_HWPT_DATA_NONE && dataLen === 0) fail('EINVAL', 'a data type without data (iommufd_hwpt_alloc)');
  const dev = ctx.table.getTyped(req.devId, 'device', 'dev_id');
  const pt = ctx.table.peek(req.ptId) as AnyObject | undefined;
  if (pt === undefined) fail('EINVAL', `pt_id ${req.ptId} does not exist (iommufd_hwpt_alloc: EINVAL, not ENOENT)`);
  let hwpt: HwptObject;
  if (pt.type === 'ioas') {
    hwpt = allocPagingHwpt(ctx, pt, dev, flags, dataLen ? data : undefined);
  } else if (pt.type === 'hwpt_paging') {
    hwpt = allocNestedHwpt(ctx, pt, dev, flags, dataType, data);
  } else {
    return fail('EINVAL', `pt_id ${req.ptId} is a ${pt.type}, neither an IOAS nor a paging HWPT (iommufd_hwpt_alloc)`);
  }
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const fault = ctx.table.peek(req.faultId ?? 0);
    if (fault === undefined || fault.type !== 'fault') {
      if (hwpt.type === 'hwpt_paging') teardownPagingHwpt(hwpt);
      else teardownNestedHwpt(hwpt);
      fail('ENOENT', `fault_id ${req.faultId ?? 0} is not a FAULT object (iommufd_hwpt_alloc)`);
    }
    hwpt.fault = fault;
    hold(fault);
  }
  ctx.table.insert(hwpt);
  return hwpt.id;
}

// ---------------------------------------------------------------- IOMMU_HWPT_INVALIDATE

/** How many applied entries a nested HWPT remembers (SimIommufd.invalidations). */
export const INVALIDATION_LOG_SIZE = 1024;

/** iommufd_hwpt_invalidate + intel_nested_cache_invalidate_user (§7). Returns entries applied. */
export function hwptInvalidate(
  ctx: SimContext, hwptId: number, entries: readonly VtdS1InvalidateEntry[] | null, opts: InvalidateOptions = {},
): number {
  const entryNum = entries === null ? (opts.entryNum ?? 0) : entries.length;
  const entryLen = opts.entryLen ?? IOMMU_HWPT_VTD_S1_INVALIDATE_SIZE;
  const dataType = opts.dataType ?? IOMMU_HWPT_INVALIDATE_DATA_VTD_S1;
  const err = (errno: BackendError['errno'], msg: string, applied: number): never => {
    throw new BackendError(errno, msg, undefined, { applied });
  };
  if (entryNum !== 0 && (entries === null || entryLen === 0)) err('EINVAL', 'entry_num without data_uptr or entry_len (iommufd_hwpt_invalidate)', 0);
  const obj = ctx.table.peek(hwptId);
  if (obj === undefined) err('ENOENT', `hwpt_id ${hwptId} does not exist (iommufd_hwpt_invalidate)`, 0);
  if (obj!.type !== 'hwpt_nested') {
    err('EINVAL', `hwpt_id ${hwptId} is a ${obj!.type}: only nested HWPTs take user invalidations (iommufd_hwpt_invalidate)`, 0);
  }
  const hwpt = obj as HwptNestedObject;
  if (dataType !== IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) {
    err('EINVAL', `data_type ${dataType} is not IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 (intel_nested_cache_invalidate_user)`, 0);
  }
  let applied = 0;
  for (const e of entries ?? []) {
    if (entryLen !== IOMMU_HWPT_VTD_S1_INVALIDATE_SIZE) {
      err('EINVAL', `entry_len ${entryLen} is not 24 (iommu_copy_struct_from_user_array)`, applied);
    }
    if ((e.flags ?? 0) & ~IOMMU_VTD_INV_FLAGS_LEAF || (e.reserved ?? 0) !== 0) {
      err('EOPNOTSUPP', 'unknown invalidation flags or non-zero __reserved (intel_nested_cache_invalidate_user)', applied);
    }
    if (e.addr & 0xfffn || (e.npages === U64_MAX && e.addr !== 0n)) {
      err('EINVAL', 'addr not 4 KiB aligned, or npages = U64_MAX with a non-zero addr (intel_nested_cache_invalidate_user)', applied);
    }
    // cache_tag_flush_range: the simulation keeps no IOTLB, so there is nothing stale to drop;
    // the entry is counted and logged.
    applied++;
    hwpt.invalidated++;
    hwpt.invalidationLog.push({ addr: e.addr, npages: e.npages, flags: e.flags ?? 0 });
    if (hwpt.invalidationLog.length > INVALIDATION_LOG_SIZE) hwpt.invalidationLog.shift();
  }
  return applied;
}
