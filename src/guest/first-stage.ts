import type { GuestPageAllocator } from './allocator.js';
import { checkAligned, checkU64, GuestEncodeError, hex, sizeName } from './errors.js';
import { leafLevel, levelIndex, levelSize, PAGE_4K, type GuestMemoryLike } from './memory.js';

/** First-stage (x86-64 format) paging-entry bits, VT-d 9.9. */
export const FsPte = {
  P: 1n << 0n,
  RW: 1n << 1n,
  US: 1n << 2n,
  PWT: 1n << 3n,
  PCD: 1n << 4n,
  A: 1n << 5n,
  D: 1n << 6n,
  /** Page size: a 2 MiB (level 2) or 1 GiB (level 3) leaf. */
  PS: 1n << 7n,
  G: 1n << 8n,
  /** Extended accessed, set by the walker when the PASID entry's EAFE is set. */
  EA: 1n << 10n,
  XD: 1n << 63n,
  /** Output-address field, bits 51:12. */
  ADDR: 0x000f_ffff_ffff_f000n,
} as const;

/** Bits of the non-leaf entries the table creates. */
export interface FsNonLeafBits {
  /** R/W (default true: only the leaf restricts writes). */
  write?: boolean;
  /** U/S (default true: only the leaf restricts user access). */
  user?: boolean;
  /** XD (default false). Linux sets XD at every level. */
  xd?: boolean;
  /** A, preset (default false: the walker sets it). */
  accessed?: boolean;
}

export interface FirstStageOptions {
  /** 4 (48-bit, FSPM 00b) or 5 (57-bit, FSPM 01b); default 4. */
  levels?: 4 | 5;
  /** Use this zeroed page as the root instead of allocating one. */
  root?: bigint;
  nonLeaf?: FsNonLeafBits;
}

export interface FsMapOptions {
  /** 4096 (default), 2 MiB or 1 GiB. */
  size?: number;
  /** R/W (default true). */
  write?: boolean;
  /** U/S (default true). */
  user?: boolean;
  /** XD, bit 63 (default false). */
  xd?: boolean;
  /** A, preset (default false). */
  accessed?: boolean;
  /** D, preset (default false). Linux presets A and D on writable leaves. */
  dirty?: boolean;
  /** Bits OR'd into the leaf (PAT, G, protection keys, or reserved bits for fault tests). */
  raw?: bigint;
}

const ADDR_LIMIT = 1n << 52n;

/**
 * A first-stage page table in guest memory, built the way a guest driver does: `map` adds
 * the missing tables on the way down (zeroed pages from the allocator) and writes the leaf.
 */
export class FirstStageTable {
  readonly root: bigint;
  readonly levels: 4 | 5;
  private readonly tableBits: bigint;

  constructor(
    private readonly mem: GuestMemoryLike,
    private readonly alloc: GuestPageAllocator,
    opts: FirstStageOptions = {},
  ) {
    const levels = opts.levels ?? 4;
    if (levels !== 4 && levels !== 5) throw new GuestEncodeError(`levels must be 4 or 5, got ${String(levels)}`);
    this.levels = levels;
    this.root = opts.root === undefined ? alloc.alloc() : checkAligned('root', opts.root, 4096n);
    const n = opts.nonLeaf ?? {};
    this.tableBits =
      FsPte.P | (n.write ?? true ? FsPte.RW : 0n) | (n.user ?? true ? FsPte.US : 0n) |
      (n.xd ? FsPte.XD : 0n) | (n.accessed ? FsPte.A : 0n);
  }

  /** Map the page at `iova` to `gpa`; returns the GPA of the leaf entry. */
  map(iova: bigint, gpa: bigint, opts: FsMapOptions = {}): bigint {
    const size = opts.size ?? PAGE_4K;
    const level = leafLevel(size);
    this.checkCanonical(iova);
    checkAligned('iova', iova, BigInt(size));
    checkAligned('gpa', gpa, BigInt(size));
    if (gpa >= ADDR_LIMIT) throw new GuestEncodeError(`gpa must be below 2^52 (entry bits 51:12), got ${hex(gpa)}`);
    const leaf =
      gpa | FsPte.P | (opts.write ?? true ? FsPte.RW : 0n) | (opts.user ?? true ? FsPte.US : 0n) |
      (opts.accessed ? FsPte.A : 0n) | (opts.dirty ? FsPte.D : 0n) | (level > 1 ? FsPte.PS : 0n) |
      (opts.xd ? FsPte.XD : 0n) | checkU64('raw', opts.raw ?? 0n);
    const at = this.walk(iova, level, true);
    const old = this.mem.readU64(at);
    if (old & FsPte.P && level > 1 && !(old & FsPte.PS)) {
      throw new GuestEncodeError(
        `iova ${hex(iova)}: a level-${level} table of smaller pages is already there; cannot map a ${sizeName(size)} page over it`,
      );
    }
    this.mem.writeU64(at, leaf);
    return at;
  }

  /** Clear the leaf mapping `iova` (the page's base address); returns its size, 0 if unmapped. */
  unmap(iova: bigint): number {
    this.checkCanonical(iova);
    let table = this.root;
    for (let l: number = this.levels; ; l--) {
      const at = table + levelIndex(iova, l) * 8n;
      const e = this.mem.readU64(at);
      if (!(e & FsPte.P)) return 0;
      if (l === 1 || ((l === 2 || l === 3) && e & FsPte.PS)) {
        checkAligned(`iova (inside a ${sizeName(levelSize(l))} page)`, iova, levelSize(l));
        this.mem.writeU64(at, 0n);
        return Number(levelSize(l));
      }
      table = e & FsPte.ADDR;
    }
  }

  /** GPA of the entry for `iova` at `level` (levels..1); its tables must exist. */
  entryAddress(iova: bigint, level: number): bigint {
    this.checkCanonical(iova);
    if (!Number.isInteger(level) || level < 1 || level > this.levels) {
      throw new GuestEncodeError(`level must be in [1, ${this.levels}], got ${level}`);
    }
    return this.walk(iova, level, false);
  }

  /** Upper address bits must copy bit 47 (4-level) or bit 56 (5-level). */
  private checkCanonical(iova: bigint): void {
    const width = BigInt(this.levels === 4 ? 48 : 57);
    const top = iova >> (width - 1n);
    if (iova < 0n || iova >= 1n << 64n || (top !== 0n && top !== (1n << (65n - width)) - 1n)) {
      throw new GuestEncodeError(
        `iova must be canonical for ${this.levels}-level paging (bits 63:${width - 1n} all equal), got ${hex(iova)}`,
      );
    }
  }

  /** Entry address at `level`, creating missing tables above it if `create`. */
  private walk(iova: bigint, level: number, create: boolean): bigint {
    let table = this.root;
    for (let l: number = this.levels; l > level; l--) {
      const at = table + levelIndex(iova, l) * 8n;
      const e = this.mem.readU64(at);
      if (!(e & FsPte.P)) {
        if (!create) throw new GuestEncodeError(`iova ${hex(iova)} has no level-${l - 1} table: its level-${l} entry is not present`);
        table = this.alloc.alloc();
        this.mem.writeU64(at, table | this.tableBits);
      } else if ((l === 2 || l === 3) && e & FsPte.PS) {
        throw new GuestEncodeError(`iova ${hex(iova)} is inside a ${sizeName(levelSize(l))} page mapped at level ${l}`);
      } else {
        table = e & FsPte.ADDR;
      }
    }
    return table + levelIndex(iova, level) * 8n;
  }
}
