/**
 * Host IOMMU devices: a passthrough device at (bus, devfn) with its iommufd-type backend and
 * device id (QEMU's VTDHostIOMMUDevice). Registration checks what QEMU's
 * vtd_dev_set_iommu_device / vtd_check_hiod(_accel) check, then takes the device's default
 * stage 2 — a nest-parent HWPT over guest RAM — from the backend's Stage2Pool, with the RID
 * attached to it (DMA is GPA identity until the guest's tables say otherwise).
 */
import { BackendError } from '../../backend/errors.js';
import { decodeHostCaps, type HostCaps } from '../../backend/host-caps.js';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID, type HwInfo, type IommufdBackend,
} from '../../backend/types.js';
import { VtdArgumentError } from '../../errors.js';
import { HostDeviceError } from './errors.js';
import type { BindUnit } from './guest-tables.js';
import type { Stage2 } from './stage2-pool.js';

/** What `vtd.addHostDevice` takes. */
export interface HostDeviceOptions {
  /** PCI bus (0-255) and devfn (device << 3 | function) of the device as the guest sees it. */
  bus: number;
  devfn: number;
  /** Its iommufd-type backend (SimIommufd, or another IommufdBackend). */
  backend: IommufdBackend;
  /** The backend's device id (VFIO bind's `out_devid`); the device must not be attached yet. */
  devId: number;
  /** A name for traces and errors. */
  name?: string;
  /** Ask for a dirty-tracking stage 2 (IOMMU_HWPT_ALLOC_DIRTY_TRACKING); used only if the host supports it. */
  dirtyTracking?: boolean;
  /**
   * The device sits behind a PCIe-to-PCI bridge: its DMA carries the bridge's source-id, so
   * the vIOMMU cannot tell it from its siblings. Refused (as QEMU does).
   */
  behindBridge?: boolean;
}

/** A binding: the guest PASID entry the host mirrors (QEMU's VTDPASIDCacheEntry). */
export interface Binding {
  /** The 512-bit guest entry (8 qwords) as of the last successful BIND/UPDATE. */
  readonly entry: readonly bigint[];
  /** Its DID (what domain- and PASID-selective invalidations filter on). */
  readonly did: number;
  readonly kind: 'first-stage' | 'pass-through';
  /** first-stage: the nested (stage-1) HWPT made for it. */
  readonly s1HwptId?: number;
}

/** A registered host device, as the embedder sees it (`vtd.hostDevices()`). */
export interface HostDevice {
  readonly bus: number;
  readonly devfn: number;
  /** Source-id: bus << 8 | devfn. */
  readonly sid: number;
  readonly name: string;
  readonly backend: IommufdBackend;
  readonly devId: number;
  /** The default stage 2: the nest-parent HWPT and its IOAS. */
  readonly stage2: { readonly hwptId: number; readonly ioasId: number; readonly flags: number };
  /** The device has PASIDs and the vIOMMU exposes them: every PASID below `pasidLimit` is bound, not only PASID 0. */
  readonly pasidCapable: boolean;
  /** PASIDs the bind path mirrors: min(host device's, vIOMMU's) PASID count (1 without PASIDs). */
  readonly pasidLimit: number;
  /** The host VT-d unit's capabilities (from GET_HW_INFO). */
  readonly hostCaps: Readonly<HostCaps>;
  /** The bindings, by guest PASID (copies). */
  bindings(): { pasid: number; binding: Binding }[];
  /** What the bind path has attached on `pasid` (0 = the RID): a HWPT id, or undefined (blocked). */
  attachment(pasid: number): number | undefined;
}

const BACKEND_METHODS = [
  'getHwInfo', 'allocIoas', 'ioasMap', 'ioasUnmap', 'ioasIovaRanges', 'ioasAllowIovas', 'allocHwpt', 'attach', 'replace', 'detach',
  'invalidateHwpt', 'destroy',
] as const;

/** Whether `b` implements IommufdBackend (a legacy VFIO container, say, does not). */
export function isIommufdBackend(b: unknown): b is IommufdBackend {
  if (typeof b !== 'object' || b === null) return false;
  const o = b as Record<string, unknown>;
  return BACKEND_METHODS.every((m) => typeof o[m] === 'function');
}

export class HostIommuDevice implements HostDevice {
  readonly sid: number;
  readonly name: string;
  /** Cached guest entries, by guest PASID. */
  readonly cache = new Map<number, Binding>();
  /** What this path attached on the host, by PASID (0 = RID): HWPT id. */
  readonly attached = new Map<number, number>();
  /** IOMMU_HWPT_ALLOC_PASID for its stage-1 HWPTs when it uses PASIDs. */
  readonly s1Flags: number;

  constructor(
    readonly bus: number,
    readonly devfn: number,
    readonly backend: IommufdBackend,
    readonly devId: number,
    name: string | undefined,
    readonly hostCaps: Readonly<HostCaps>,
    readonly pasidCapable: boolean,
    readonly pasidLimit: number,
    readonly s2: Stage2,
  ) {
    this.sid = (bus << 8) | devfn;
    this.name = name ?? `${hex2(bus)}:${hex2(devfn >> 3)}.${devfn & 7}`;
    this.s1Flags = pasidCapable ? IOMMU_HWPT_ALLOC_PASID : 0;
  }

  get stage2() {
    return { hwptId: this.s2.hwptId, ioasId: this.s2.ioas.id, flags: this.s2.flags };
  }

  bindings(): { pasid: number; binding: Binding }[] {
    return [...this.cache].sort(([a], [b]) => a - b).map(([pasid, b]) => ({ pasid, binding: { ...b, entry: [...b.entry] } }));
  }

  attachment(pasid: number): number | undefined {
    return this.attached.get(pasid);
  }
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

function checkInt(name: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new VtdArgumentError(`${name} must be an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** What registration learned about a device that passed every check. */
export interface CheckedDevice {
  hw: HwInfo;
  hostCaps: HostCaps;
  pasidCapable: boolean;
  pasidLimit: number;
  /** Nest-parent allocation flags. */
  flags: number;
  /** Sharing class: devices share a nest parent only within one. */
  key: string;
}

/**
 * The registration checks, in QEMU's order where QEMU has them (vtd_dev_set_iommu_device,
 * vtd_check_hiod, vtd_check_hiod_accel). Throws HostDeviceError.
 */
export function checkHostDevice(unit: BindUnit, o: HostDeviceOptions): CheckedDevice {
  if (typeof o !== 'object' || o === null) throw new VtdArgumentError('addHostDevice needs { bus, devfn, backend, devId }');
  checkInt('bus', o.bus, 255);
  checkInt('devfn', o.devfn, 255);
  checkInt('devId', o.devId, 0xffff_ffff);
  const caps = unit.caps;
  const where = `host device ${hex2(o.bus)}:${hex2(o.devfn >> 3)}.${o.devfn & 7}`;
  if (!caps.cachingMode) {
    throw new HostDeviceError('no-caching-mode', `${where}: device assignment is not allowed without caching mode (caps.cachingMode)`);
  }
  if (!(caps.smts && caps.fsts)) {
    throw new HostDeviceError('no-first-stage', `${where}: host devices need a vIOMMU with scalable-mode first-stage translation (caps.smts, caps.fsts)`);
  }
  if (caps.rps) {
    throw new HostDeviceError('rid-pasid', `${where}: RID_PASID (caps.rps) is not supported with host devices: the host RID is PASID 0`);
  }
  if (!isIommufdBackend(o.backend)) {
    throw new HostDeviceError('not-iommufd', `${where}: need an iommufd-type backend (IommufdBackend) for first-stage translation`);
  }
  let hw: HwInfo;
  try {
    hw = o.backend.getHwInfo(o.devId);
  } catch (e) {
    throw new HostDeviceError(e instanceof BackendError ? 'backend' : 'not-iommufd', `${where}: GET_HW_INFO failed: ${(e as Error).message}`, { cause: e });
  }
  if (hw.type !== IOMMU_HW_INFO_TYPE_INTEL_VTD) {
    throw new HostDeviceError('not-iommufd', `${where}: the host IOMMU is not Intel VT-d (hw info type ${hw.type})`);
  }
  const hc = decodeHostCaps({ capReg: hw.data.capReg, ecapReg: hw.data.ecapReg });
  const aw = Math.max(caps.haw, caps.mgaw);
  if (hc.mgaw < aw) {
    throw new HostDeviceError('host-address-width', `${where}: host IOMMU address width ${hc.mgaw} is below the vIOMMU's ${aw} bits`);
  }
  if (caps.fs1gp && !hc.fs1gp) {
    throw new HostDeviceError('host-fs1gp', `${where}: the vIOMMU advertises FS1GP and the host IOMMU has no 1 GiB first-stage pages`);
  }
  if (caps.fs5lp && !hc.fl5lp) {
    throw new HostDeviceError('host-fs5lp', `${where}: the vIOMMU advertises 5-level first-stage paging and the host IOMMU has no FL5LP`);
  }
  if (o.behindBridge) {
    throw new HostDeviceError('behind-bridge', `${where}: a host device behind a PCI bridge cannot be bound`);
  }
  // ECAP.PASID is advertised with scalable mode (src/spec/registers.ts); the guest's PASIDs are pss + 1 bits.
  const viommuPasids = caps.smts ? 2 ** (caps.pss + 1) : 1;
  const pasidCapable = hw.maxPasidLog2 > 0 && viommuPasids > 1;
  const pasidLimit = pasidCapable ? Math.min(2 ** hw.maxPasidLog2, viommuPasids) : 1;
  const dirty = !!o.dirtyTracking && (hw.capabilities & IOMMU_HW_CAP_DIRTY_TRACKING) !== 0;
  const flags = IOMMU_HWPT_ALLOC_NEST_PARENT | (pasidCapable ? IOMMU_HWPT_ALLOC_PASID : 0) | (dirty ? IOMMU_HWPT_ALLOC_DIRTY_TRACKING : 0);
  return { hw, hostCaps: hc, pasidCapable, pasidLimit, flags, key: `snoop=${hc.sc}` };
}
