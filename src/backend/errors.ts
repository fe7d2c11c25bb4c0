/**
 * The error a backend call throws: the errno the Linux kernel returns for the same mistake,
 * and a message naming the rule (with the kernel function it comes from).
 */
import { VtdError } from '../errors.js';

/** Kernel errno values (x86-64 Linux, include/uapi/asm-generic/errno*.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EOVERFLOW: 75,
} as const;

export type Errno = keyof typeof ERRNO;

export function isErrno(v: unknown): v is Errno {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ERRNO, v);
}

export class BackendError extends VtdError {
  override name = 'BackendError';
  /** Numeric errno (`ERRNO[errno]`). */
  readonly code: number;
  /**
   * IOMMU_HWPT_INVALIDATE only: the kernel writes `entry_num` back on failure too — the
   * number of entries handled (and applied) before the failing one.
   */
  readonly applied?: number;

  constructor(
    readonly errno: Errno,
    message: string,
    /** The backend operation that failed (`allocHwpt`, `attach`, ...); set by the backend's entry points. */
    public op?: string,
    extra: { applied?: number } = {},
  ) {
    super(`${errno}: ${message}`);
    this.code = ERRNO[errno];
    if (extra.applied !== undefined) this.applied = extra.applied;
  }
}

/** Throw helper: `fail('EINVAL', 'rule')`. */
export function fail(errno: Errno, message: string): never {
  throw new BackendError(errno, message);
}
