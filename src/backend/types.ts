/**
 * The iommufd-shaped backend interface the vIOMMU's bind path calls, with the uAPI's constants
 * (include/uapi/linux/iommufd.h, Linux 7.0; values from /work/shared/reference/linux-iommufd.md).
 *
 * Conventions: addresses and lengths are bigint (u64), ids and flags are numbers (u32).
 * Every failure throws a `BackendError` whose `errno` is what the kernel returns for the same
 * mistake. A backend other than the simulation (a real /dev/iommu through a native addon, a
 * remote helper) implements `IommufdBackend` unchanged.
 */

// ---- IOMMU_IOAS_MAP flags (§3.2) ----
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

// ---- IOMMU_HWPT_ALLOC flags (§5.1) ----
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

// ---- IOMMU_HWPT_ALLOC data types (§5.1) ----
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
export const IOMMU_HWPT_DATA_AMD_GUEST = 3;

// ---- struct iommu_hwpt_vtd_s1 flags (§5.1) ----
export const IOMMU_VTD_S1_SRE = 1 << 0;
export const IOMMU_VTD_S1_EAFE = 1 << 1;
export const IOMMU_VTD_S1_WPE = 1 << 2;
/** sizeof(struct iommu_hwpt_vtd_s1): the only data_len the VT-d driver accepts. */
export const IOMMU_HWPT_VTD_S1_SIZE = 24;

// ---- IOMMU_HWPT_INVALIDATE (§7) ----
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0;
/** sizeof(struct iommu_hwpt_vtd_s1_invalidate). */
export const IOMMU_HWPT_VTD_S1_INVALIDATE_SIZE = 24;

// ---- IOMMU_GET_HW_INFO (§4) ----
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3;
/** iommu_hw_info_vtd.flags: always set by the Intel driver (read-only maps barred on nest parents). */
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;

/** The PASID the kernel uses for the RID (requests without PASID). */
export const IOMMU_NO_PASID = 0;

/** struct iommu_hwpt_vtd_s1, decoded. */
export interface VtdS1Data {
  /** IOMMU_VTD_S1_SRE | _EAFE | _WPE (other bits are ignored by the kernel, and kept). */
  flags: number;
  /** Guest-physical address (= IOAS IOVA) of the first-stage root; the low 12 bits are dropped. */
  pgtblAddr: bigint;
  /** 48 (4-level) or 57 (5-level); anything else fails only at attach (EINVAL). */
  addrWidth: number;
  /** `__reserved`, "must be 0" but never checked by the kernel. */
  reserved?: number;
}

/**
 * A user pointer the kernel cannot read (`data_uptr` or an invalidation array that faults):
 * copying from it gives EFAULT. `length` is the `data_len` / `entry_len` passed with it.
 */
export class UnreadableUserData {
  constructor(readonly length: number = IOMMU_HWPT_VTD_S1_SIZE) {}
}

/**
 * The `data_uptr`/`data_len` of HWPT_ALLOC: the typed struct (data_len = 24), its raw bytes as
 * userspace would pass them (data_len = byteLength; decoded little-endian), or an unreadable
 * pointer.
 */
export type HwptUserData = VtdS1Data | Uint8Array | UnreadableUserData;

export interface HwptAllocRequest {
  devId: number;
  /** An IOAS (-> paging HWPT) or a paging HWPT with NEST_PARENT (-> nested HWPT). */
  ptId: number;
  /** IOMMU_HWPT_ALLOC_* | IOMMU_HWPT_FAULT_ID_VALID; default 0. */
  flags?: number;
  /** IOMMU_HWPT_DATA_*; default VTD_S1 when `data` is given, NONE otherwise. */
  dataType?: number;
  data?: HwptUserData;
  /** FAULT object id, used only with IOMMU_HWPT_FAULT_ID_VALID. */
  faultId?: number;
}

/** struct iommu_hwpt_vtd_s1_invalidate. */
export interface VtdS1InvalidateEntry {
  /** 4 KiB-aligned IOVA (guest first-stage input address). */
  addr: bigint;
  /** 4 KiB pages; `addr = 0, npages = U64_MAX` means everything. */
  npages: bigint;
  /** IOMMU_VTD_INV_FLAGS_LEAF or 0. */
  flags?: number;
  reserved?: number;
}

export interface InvalidateOptions {
  /** IOMMU_HWPT_INVALIDATE_DATA_*; default VTD_S1 (0). */
  dataType?: number;
  /** `entry_len`; default 24. */
  entryLen?: number;
  /** `entry_num` when `entries` is null (a NULL `data_uptr`); otherwise entries.length. */
  entryNum?: number;
}

export interface IovaRange {
  start: bigint;
  /** Inclusive. */
  last: bigint;
}

export interface IovaRanges {
  /** Holes in the IOAS's reserved ranges over [0, U64_MAX], ascending. */
  ranges: IovaRange[];
  /** `out_iova_alignment`: 1 without domains, 4096 with a VT-d domain. */
  alignment: bigint;
}

/** struct iommu_hw_info_vtd. */
export interface VtdHwInfoData {
  /** Always IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17. */
  flags: number;
  capReg: bigint;
  ecapReg: bigint;
}

export interface HwInfo {
  /** out_data_type: IOMMU_HW_INFO_TYPE_INTEL_VTD. */
  type: number;
  data: VtdHwInfoData;
  /** out_max_pasid_log2: 0 without PASID support. */
  maxPasidLog2: number;
  /** out_capabilities: IOMMU_HW_CAP_*. */
  capabilities: number;
}

export interface HwInfoOptions {
  /** IOMMU_HW_INFO_FLAG_INPUT_TYPE; default 0. */
  flags?: number;
  /** in_data_type, used only with IOMMU_HW_INFO_FLAG_INPUT_TYPE. */
  dataType?: number;
}

/**
 * The uAPI, one method per ioctl (plus the VFIO cdev attach/detach). Methods are synchronous:
 * the vIOMMU calls them while it processes a queued invalidation.
 */
export interface IommufdBackend {
  /** IOMMU_GET_HW_INFO. */
  getHwInfo(devId: number, options?: HwInfoOptions): HwInfo;
  /** IOMMU_IOAS_ALLOC; returns the IOAS id. */
  allocIoas(flags?: number): number;
  /**
   * IOMMU_IOAS_MAP: map [hostAddr, +length) at `iova` (with IOMMU_IOAS_MAP_FIXED_IOVA) or at an
   * IOVA the kernel picks (then `iova` is ignored). Returns the IOVA used.
   */
  ioasMap(ioasId: number, iova: bigint, length: bigint, hostAddr: bigint | undefined, flags: number): bigint;
  /** IOMMU_IOAS_UNMAP; `(0, U64_MAX)` unmaps everything. Returns the bytes unmapped. */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): bigint;
  /** IOMMU_IOAS_IOVA_RANGES. */
  ioasIovaRanges(ioasId: number): IovaRanges;
  /** IOMMU_IOAS_ALLOW_IOVAS: replaces the allowed list (empty clears it). */
  ioasAllowIovas(ioasId: number, ranges: readonly IovaRange[]): void;
  /** IOMMU_HWPT_ALLOC; returns the HWPT id. */
  allocHwpt(req: HwptAllocRequest): number;
  /**
   * iommufd_device_attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT [+ _PASID] on a detached pasid).
   * `pasid` undefined or 0 = the RID. Returns the HWPT id actually attached (an auto domain's
   * for an IOAS).
   */
  attach(devId: number, ptId: number, pasid?: number): number;
  /** iommufd_device_replace (VFIO ATTACH on an attached pasid). Returns the HWPT id. */
  replace(devId: number, ptId: number, pasid?: number): number;
  /** iommufd_device_detach; detaching what is not attached is a no-op (as VFIO does). */
  detach(devId: number, pasid?: number): void;
  /** IOMMU_HWPT_INVALIDATE with VT-d S1 entries; returns how many were applied (`entry_num`). */
  invalidateHwpt(hwptId: number, entries: readonly VtdS1InvalidateEntry[] | null, options?: InvalidateOptions): number;
  /** IOMMU_DESTROY. */
  destroy(id: number): void;
}

// ---- The simulation's inspection and DMA types ----

export type ObjectType = 'ioas' | 'hwpt_paging' | 'hwpt_nested' | 'device' | 'fault';

export interface ObjectInfo {
  id: number;
  type: ObjectType;
  /**
   * The kernel's `obj->users`: 1 for the object itself plus one per holder (§2.3). DESTROY
   * succeeds only at 1.
   */
  users: number;
  /** hwpt_paging: its IOAS; hwpt_nested: its parent HWPT. */
  parent?: number;
  /** HWPT allocation flags. */
  flags?: number;
  /** hwpt_nested: its VT-d S1 data as copied at allocation. */
  data?: VtdS1Data;
  /** hwpt_paging: created by an IOAS attach (destroyed with its last user). */
  autoDomain?: boolean;
  /** hwpt_paging: the VT-d translation stage the driver chose. */
  stage?: 'first' | 'second';
  /** hwpt_*: FAULT object given with IOMMU_HWPT_FAULT_ID_VALID. */
  fault?: number;
  /** device: what each of its pasids (0 = RID) is attached to. */
  attached?: { pasid: number; hwptId: number }[];
}

/** A DMA fault, as a value. */
export interface DmaFault {
  /**
   * 0: nothing translates the request (blocked: nothing attached; or the device cannot emit
   * that PASID); 1: the guest's stage-1 tables (nested HWPT); 2: the IOAS mapping (the host's
   * GPA/IOVA -> host address map, for nested and paging HWPTs alike).
   */
  stage: 0 | 1 | 2;
  /**
   * stage 0: 'blocked' | 'no PASID capability' | 'PASID out of range';
   * stage 1: the VT-d fault name from the walker ('FS_ENTRY_P', ...) or 'walker error';
   * stage 2: 'not mapped' | 'write not permitted' | 'read not permitted'.
   */
  reason: string;
  /** Stage 1: the VT-d fault reason code (0x71, ...). */
  code?: number;
  /** Stage 1: the paging level of the faulting entry. */
  level?: number;
  /** The address that failed at that stage: the IOVA (stage 0/1, paging stage 2) or the GPA (nested stage 2). */
  address: bigint;
  /** The HWPT the request went through, when one was attached. */
  hwptId?: number;
}

export type DmaAccess = 'r' | 'w';

export interface DmaOptions {
  /** Supervisor request (needs SRE in the nested HWPT's S1 flags); default false (user). */
  priv?: boolean;
  /** Execute request (VT-d S1 data has no ERE, so this faults on nested HWPTs). */
  exec?: boolean;
}

export type DmaResult =
  | { ok: true; address: bigint; gpa?: bigint; hwptId: number }
  | { ok: false; fault: DmaFault };
