/**
 * Stage-2 sharing: per backend, the IOASes that map guest RAM (GPA -> host address) and the
 * nest-parent HWPTs on them. A device registering takes a compatible HWPT that exists (same
 * allocation flags and coherency, and the backend accepts the attach: EINVAL means
 * incompatible, as QEMU's VFIO and the kernel's auto-domain path read it), else a new HWPT on
 * an existing IOAS, else a new IOAS with its own HWPT. HWPTs count their devices and IOASes
 * their HWPTs; each is destroyed with its last user. A destroy the backend refuses is retried
 * later (`collect`), so nothing is forgotten.
 */
import { BackendError } from '../../backend/errors.js';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, type IommufdBackend,
} from '../../backend/types.js';

/** A guest RAM region as the host IOASes map it: [base, base + size) -> [hostAddress, ...). */
export interface RamRegion {
  readonly base: bigint;
  readonly size: bigint;
  readonly hostAddress: bigint;
}

export const RAM_MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

export interface PoolIoas {
  readonly id: number;
  readonly stage2s: Set<Stage2>;
}

/** A nest-parent HWPT: the default stage 2 of the devices in `users`. */
export interface Stage2 {
  readonly hwptId: number;
  readonly ioas: PoolIoas;
  /** IOMMU_HWPT_ALLOC_* it was allocated with. */
  readonly flags: number;
  /** The compatibility class of the devices sharing it (cache coherency). */
  readonly key: string;
  readonly users: Set<object>;
}

/** EINVAL (incompatible) and EADDRINUSE (reserved ranges clash) make the pool try the next place. */
const tryNext = (e: unknown): boolean => e instanceof BackendError && (e.errno === 'EINVAL' || e.errno === 'EADDRINUSE');

export class Stage2Pool {
  readonly ioases: PoolIoas[] = [];
  /** Object ids whose destroy failed, oldest first (nested HWPTs before parents before IOASes). */
  private readonly garbage: number[] = [];

  constructor(readonly backend: IommufdBackend, private readonly ram: () => readonly RamRegion[]) {}

  /** Every nest parent, in creation order. */
  get stage2s(): Stage2[] {
    return this.ioases.flatMap((i) => [...i.stage2s]);
  }

  /** No IOAS, no HWPT and nothing left to destroy: the pool can go. */
  get empty(): boolean {
    return this.ioases.length === 0 && this.garbage.length === 0;
  }

  /** Ids waiting for a destroy retry. */
  get pending(): readonly number[] {
    return this.garbage;
  }

  /**
   * A nest parent for `user` (backend device `devId`), with the device's RID attached to it.
   * Throws the backend's error (everything it made undone) when nothing fits.
   */
  acquire(user: object, devId: number, flags: number, key: string): Stage2 {
    const b = this.backend;
    for (const s2 of this.stage2s) {
      if (s2.flags !== flags || s2.key !== key) continue;
      try {
        b.attach(devId, s2.hwptId);
      } catch (e) {
        if (e instanceof BackendError && e.errno === 'EINVAL') continue;
        throw e;
      }
      s2.users.add(user);
      return s2;
    }
    let lastError: unknown;
    for (const existing of [...this.ioases, undefined]) {
      const ioas = existing ?? this.createIoas();
      let hwptId: number;
      try {
        hwptId = b.allocHwpt({ devId, ptId: ioas.id, flags });
      } catch (e) {
        if (existing === undefined) this.dropIoas(ioas, false);
        if (existing !== undefined && tryNext(e)) {
          lastError = e;
          continue;
        }
        throw e;
      }
      try {
        b.attach(devId, hwptId);
      } catch (e) {
        this.destroy(hwptId);
        if (existing === undefined) this.dropIoas(ioas, false);
        if (existing !== undefined && tryNext(e)) {
          lastError = e;
          continue;
        }
        throw e;
      }
      const s2: Stage2 = { hwptId, ioas, flags, key, users: new Set([user]) };
      ioas.stage2s.add(s2);
      if (existing === undefined) this.ioases.push(ioas);
      return s2;
    }
    throw lastError; // not reached: the new IOAS either returns or throws
  }

  /** `user` no longer uses `s2` (its devices are detached from it): destroy what has no user left. */
  release(user: object, s2: Stage2): void {
    s2.users.delete(user);
    if (s2.users.size > 0) return;
    s2.ioas.stage2s.delete(s2);
    this.destroy(s2.hwptId);
    if (s2.ioas.stage2s.size === 0) this.dropIoas(s2.ioas, true);
  }

  /** IOMMU_DESTROY, or remember it for `collect` when the backend refuses. */
  destroy(id: number): Error | undefined {
    try {
      this.backend.destroy(id);
      return undefined;
    } catch (e) {
      this.garbage.push(id);
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** Retry the destroys that failed, in order. Returns the ids still left. */
  collect(): readonly number[] {
    const left: number[] = [];
    for (const id of this.garbage.splice(0)) {
      try {
        this.backend.destroy(id);
      } catch (e) {
        if (e instanceof BackendError && e.errno === 'ENOENT') continue; // gone already
        left.push(id);
      }
    }
    this.garbage.push(...left);
    return left;
  }

  /** Map a new RAM region into every IOAS (all or none). */
  mapRegion(r: RamRegion): void {
    const done: PoolIoas[] = [];
    try {
      for (const ioas of this.ioases) {
        this.backend.ioasMap(ioas.id, r.base, r.size, r.hostAddress, RAM_MAP_FLAGS);
        done.push(ioas);
      }
    } catch (e) {
      for (const ioas of done) {
        try {
          this.backend.ioasUnmap(ioas.id, r.base, r.size);
        } catch {
          // best effort: the region stays mapped there (reported by the caller's error)
        }
      }
      throw e;
    }
  }

  /** Unmap a RAM region from every IOAS; returns the errors (ENOENT counts as done). */
  unmapRegion(r: RamRegion): Error[] {
    const errors: Error[] = [];
    for (const ioas of this.ioases) {
      try {
        this.backend.ioasUnmap(ioas.id, r.base, r.size);
      } catch (e) {
        if (e instanceof BackendError && e.errno === 'ENOENT') continue;
        errors.push(e instanceof Error ? e : new Error(String(e)));
      }
    }
    return errors;
  }

  /** A new IOAS mapping all guest RAM (undone on failure). */
  private createIoas(): PoolIoas {
    const id = this.backend.allocIoas();
    try {
      for (const r of this.ram()) this.backend.ioasMap(id, r.base, r.size, r.hostAddress, RAM_MAP_FLAGS);
    } catch (e) {
      this.destroy(id); // IOMMU_DESTROY of an IOAS unmaps everything
      throw e;
    }
    return { id, stage2s: new Set() };
  }

  private dropIoas(ioas: PoolIoas, listed: boolean): void {
    if (listed) this.ioases.splice(this.ioases.indexOf(ioas), 1);
    this.destroy(ioas.id);
  }
}
