/**
 * Errors of the host bind path: `HostDeviceError` for a registration (or removal) the
 * vIOMMU refuses, `HostBindError` for BIND / UPDATE / UNBIND / invalidation forwarding that
 * failed on the backend — what the guest sees as an invalidation-queue error (FSTS.IQE).
 */
import { BackendError } from '../../backend/errors.js';
import { VtdError } from '../../errors.js';

/** Why addHostDevice (or removeHostDevice) refused. */
export type HostDeviceErrorCode =
  /** The vIOMMU has no scalable-mode first stage (caps.smts and caps.fsts). */
  | 'no-first-stage'
  /** The vIOMMU runs without caching mode (caps.cachingMode): the guest would not invalidate non-present -> present changes. */
  | 'no-caching-mode'
  /** The vIOMMU advertises RID_PASID (caps.rps): requests without PASID could use any PASID, the host RID only PASID 0. */
  | 'rid-pasid'
  /** The backend is not an iommufd-type backend, or its device is not on an Intel VT-d host IOMMU. */
  | 'not-iommufd'
  /** The host IOMMU's address width (CAP.MGAW) is below the vIOMMU's. */
  | 'host-address-width'
  /** The vIOMMU advertises FS1GP and the host has no 1 GiB first-stage pages. */
  | 'host-fs1gp'
  /** The vIOMMU advertises 5-level first-stage paging and the host has no FL5LP. */
  | 'host-fs5lp'
  /** The device sits behind a PCI bridge (its DMA carries the bridge's source-id). */
  | 'behind-bridge'
  /** A host device is already registered at this bus:devfn, or with this backend device id. */
  | 'duplicate'
  /** No host device is registered there. */
  | 'not-registered'
  /** A backend call failed (`cause` is the BackendError). */
  | 'backend';

export class HostDeviceError extends VtdError {
  override name = 'HostDeviceError';
  constructor(readonly code: HostDeviceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** The backend's errno when a backend call failed. */
  get errno(): string | undefined {
    return this.cause instanceof BackendError ? this.cause.errno : undefined;
  }
}

/** The bind-path step that failed. */
export type BindOp = 'bind' | 'update' | 'unbind' | 'detach' | 'reattach' | 'destroy' | 'flush';

/** One failed step: which device (backend device id) and guest PASID, and the error. */
export interface BindFailure {
  op: BindOp;
  devId: number;
  pasid: number;
  error: Error;
}

/** QEMU's error prefixes (intel_iommu_accel.c), for messages a QEMU user recognises. */
const PREFIX: Record<BindOp, string> = {
  bind: 'Attaching to HWPT failed',
  update: 'Replacing HWPT attachment failed',
  unbind: 'Detaching from HWPT failed',
  detach: 'Detaching from HWPT failed',
  reattach: 'Re-attaching the default HWPT failed',
  destroy: 'Freeing HWPT failed',
  flush: 'Invalidating the host IOTLB failed',
};

export function describeFailure(f: BindFailure): string {
  return `${PREFIX[f.op]} (device ${f.devId}, PASID ${f.pasid}): ${f.error.message}`;
}

/**
 * The bind path could not mirror a guest change onto the host (or forward an invalidation).
 * Returned from the invalidation hook, it fails the descriptor (FSTS.IQE); the vIOMMU's
 * cached entries and the backend stay as they were before the failing step.
 */
export class HostBindError extends VtdError {
  override name = 'HostBindError';
  constructor(readonly failures: readonly BindFailure[]) {
    const first = failures[0];
    super(first === undefined
      ? 'host bind path failed'
      : `${describeFailure(first)}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}`);
  }

  /** The backend's errno of the first failure, if it came from the backend. */
  get errno(): string | undefined {
    const e = this.failures[0]?.error;
    return e instanceof BackendError ? e.errno : undefined;
  }
}

/** -errno for trace events' `ret` (QEMU passes the ioctl's negative errno). */
export function retOf(e: unknown): number {
  if (e instanceof BackendError) return -e.code;
  return -22; // EINVAL: a check of the bind path itself (QEMU's error_setg paths return -EINVAL)
}
