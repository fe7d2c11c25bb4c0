import { GuestPageAllocator, type GuestRange } from './allocator.js';
import {
  scalableContextEntryAddress, writeLegacyContextEntry, writeScalableContextEntry, type LegacyContextFields, type ScalableContextFields,
} from './context.js';
import { checkUint, GuestEncodeError, hex } from './errors.js';
import { FirstStageTable, type FirstStageOptions } from './first-stage.js';
import type { GuestMemoryFill, GuestMemoryLike } from './memory.js';
import {
  MAX_PASID, pasidDirEntryAddress, writePasidDirEntry, writePasidEntry, type PasidEntryFields,
} from './pasid.js';
import { rootEntryAddress, scalableContextTable, setScalableContext, splitSid, writeLegacyRootEntry } from './root.js';
import { SecondStageTable, type SecondStageOptions } from './second-stage.js';

export type ScalableDeviceOptions = Omit<ScalableContextFields, 'pasidDirPtr'>;

export interface ScalableDevice {
  /** GPA of the device's context entry. */
  contextEntry: bigint;
  /** GPA of its PASID directory (2^(pdts+7) entries). */
  pasidDir: bigint;
  pdts: number;
}

/**
 * Builds a guest's remapping structures with one allocator, the way tests want them: one
 * root table, context tables and PASID tables allocated on first use. Guest memory is the
 * only state (besides the root and the mode), so entries written by hand are picked up too.
 */
export class GuestBuilder {
  readonly alloc: GuestPageAllocator;
  private rta?: bigint;
  private mode?: 'scalable' | 'legacy';

  constructor(
    readonly mem: GuestMemoryLike & Partial<GuestMemoryFill>,
    alloc: GuestPageAllocator | readonly GuestRange[],
  ) {
    this.alloc = alloc instanceof GuestPageAllocator ? alloc : new GuestPageAllocator(mem, alloc);
  }

  /** The root table (RTADDR), allocated on the first call. */
  root(): bigint {
    return (this.rta ??= this.alloc.alloc());
  }

  /**
   * Root-entry half + context entry + a zeroed PASID directory for `sid`. Defaults differ
   * from the bare encoder so the device works at once: PASIDE on, PDTS 7 (the directory
   * covers every 20-bit PASID: 32 pages). Each call writes a fresh context entry and directory.
   */
  scalableDevice(sid: number, opts: ScalableDeviceOptions = {}): ScalableDevice {
    this.useMode('scalable');
    const { bus, devfn } = splitSid(sid);
    const pdts = checkUint('pdts', opts.pdts ?? 7, 7);
    let ctp = scalableContextTable(this.mem, this.root(), bus, devfn);
    if (ctp === undefined) ctp = this.alloc.alloc();
    setScalableContext(this.mem, this.root(), bus, devfn, ctp);
    const pasidDir = this.alloc.alloc(Math.max(1, 2 ** (pdts + 10) / 4096));
    const contextEntry = writeScalableContextEntry(this.mem, ctp, devfn, {
      paside: true, ...opts, pdts, pasidDirPtr: pasidDir,
    });
    return { contextEntry, pasidDir, pdts };
  }

  /** Write `sid`'s PASID entry for `pasid`, allocating its PASID table on demand. Returns its GPA. */
  pasidEntry(sid: number, pasid: number, fields: PasidEntryFields): bigint {
    const { bus, devfn } = splitSid(sid);
    checkUint('pasid', pasid, MAX_PASID);
    const ctp = this.mode === 'scalable' ? scalableContextTable(this.mem, this.root(), bus, devfn) : undefined;
    const ce = ctp === undefined ? 0n : this.mem.readU64(scalableContextEntryAddress(ctp, devfn));
    if (!(ce & 1n)) throw new GuestEncodeError(`sid ${hex(sid)} has no scalable context entry: call scalableDevice first`);
    const pdts = Number((ce >> 9n) & 7n);
    if (pasid >> 6 >= 2 ** (pdts + 7)) {
      throw new GuestEncodeError(`pasid ${hex(pasid)} is beyond the PASID directory of sid ${hex(sid)} (PDTS ${pdts})`);
    }
    const dir = ce & ~0xfffn;
    const de = this.mem.readU64(pasidDirEntryAddress(dir, pasid));
    let ptp = de & ~0xfffn;
    if (!(de & 1n)) {
      ptp = this.alloc.alloc(); // 64 entries x 64 bytes = one page
      writePasidDirEntry(this.mem, dir, pasid, { pasidTablePtr: ptp });
    }
    return writePasidEntry(this.mem, ptp, pasid, fields);
  }

  /** Legacy root entry (context table on demand) + the 128-bit context entry. Returns its GPA. */
  legacyDevice(sid: number, fields: LegacyContextFields): bigint {
    this.useMode('legacy');
    const { bus, devfn } = splitSid(sid);
    const re = this.mem.readU64(rootEntryAddress(this.root(), bus));
    let ctp = re & ~0xfffn;
    if (!(re & 1n)) {
      ctp = this.alloc.alloc();
      writeLegacyRootEntry(this.mem, this.root(), bus, { ctp });
    }
    return writeLegacyContextEntry(this.mem, ctp, devfn, fields);
  }

  firstStage(opts?: FirstStageOptions): FirstStageTable {
    return new FirstStageTable(this.mem, this.alloc, opts);
  }

  secondStage(opts?: SecondStageOptions): SecondStageTable {
    return new SecondStageTable(this.mem, this.alloc, opts);
  }

  /** Root and context entries differ between modes (RTADDR.TTM), so one table cannot mix them. */
  private useMode(mode: 'scalable' | 'legacy'): void {
    if (this.mode !== undefined && this.mode !== mode) {
      throw new GuestEncodeError(`this builder's root table is ${this.mode}-mode; cannot add a ${mode} device`);
    }
    this.mode = mode;
  }
}
