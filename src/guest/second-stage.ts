import type { GuestPageAllocator } from './allocator.js';
import { checkAligned, checkU64, GuestEncodeError, hex, sizeName } from './errors.js';
import { leafLevel, levelIndex, levelSize, PAGE_4K, type GuestMemoryLike } from './memory.js';

/** Second-stage paging-entry bits, VT-d 9.8. An entry with R = W = 0 is not present. */
export const SsPte = {
  R: 1n << 0n,
  W: 1n << 1n,
  X: 1n << 2n,
  /** Page size: a 2 MiB (level 2) or 1 GiB (level 3) leaf. */
  PS: 1n << 7n,
  SNP: 1n << 11n,
  /** Transient mapping (defined with ECAP.DT). */
  TM: 1n << 62n,
  /** Output-address field, bits 51:12. */
  ADDR: 0x000f_ffff_ffff_f000n,
} as const;

/** Bits of the non-leaf entries the table creates; default R|W|X so the leaf decides. */
export interface SsNonLeafBits {
  read?: boolean;
  write?: boolean;
  /** X accumulates like R and W, so without it no leaf below grants execute. */
  exec?: boolean;
}

export interface SecondStageOptions {
  /** AW as in PASID/context entries: 1 = 3-level (39-bit), 2 = 4-level (48-bit, default), 3 = 5-level. */
  aw?: 1 | 2 | 3;
  /** Alternative to aw: 3, 4 or 5 (= aw + 2). */
  levels?: 3 | 4 | 5;
  root?: bigint;
  nonLeaf?: SsNonLeafBits;
}

export interface SsMapOptions {
  size?: number;
  /** R (default true). */
  read?: boolean;
  /** W (default true). */
  write?: boolean;
  /** X (default false). */
  exec?: boolean;
  /** Bits OR'd into the leaf (SNP, TM, memory type, or reserved bits for fault tests). */
  raw?: bigint;
}

const ADDR_LIMIT = 1n << 52n;
const present = (e: bigint): boolean => (e & (SsPte.R | SsPte.W)) !== 0n;

/** A second-stage page table in guest memory; same shape as FirstStageTable. */
export class SecondStageTable {
  readonly root: bigint;
  readonly levels: 3 | 4 | 5;
  /** The AW value to put in the PASID or legacy context entry (levels - 2). */
  readonly aw: 1 | 2 | 3;
  private readonly tableBits: bigint;

  constructor(
    private readonly mem: GuestMemoryLike,
    private readonly alloc: GuestPageAllocator,
    opts: SecondStageOptions = {},
  ) {
    const fromAw = opts.aw === undefined ? undefined : opts.aw + 2;
    const levels = opts.levels ?? fromAw ?? 4;
    if (levels !== 3 && levels !== 4 && levels !== 5) {
      throw new GuestEncodeError(`levels must be 3, 4 or 5 (aw 1, 2 or 3), got ${String(levels)}`);
    }
    if (fromAw !== undefined && fromAw !== levels) {
      throw new GuestEncodeError(`aw ${String(opts.aw)} must be 1, 2 or 3 and agree with levels ${levels} (levels = aw + 2)`);
    }
    this.levels = levels;
    this.aw = (levels - 2) as 1 | 2 | 3;
    const n = opts.nonLeaf ?? {};
    this.tableBits = (n.read ?? true ? SsPte.R : 0n) | (n.write ?? true ? SsPte.W : 0n) | (n.exec ?? true ? SsPte.X : 0n);
    if (!present(this.tableBits)) {
      throw new GuestEncodeError('nonLeaf needs read or write: an entry with R = W = 0 is not present');
    }
    this.root = opts.root === undefined ? alloc.alloc() : checkAligned('root', opts.root, 4096n);
  }

  /** Map the page at `iova` to `hpa`; returns the GPA of the leaf entry. */
  map(iova: bigint, hpa: bigint, opts: SsMapOptions = {}): bigint {
    const size = opts.size ?? PAGE_4K;
    const level = leafLevel(size);
    this.checkRange(iova);
    checkAligned('iova', iova, BigInt(size));
    checkAligned('hpa', hpa, BigInt(size));
    if (hpa >= ADDR_LIMIT) throw new GuestEncodeError(`hpa must be below 2^52 (entry bits 51:12), got ${hex(hpa)}`);
    const r = opts.read ?? true;
    const w = opts.write ?? true;
    if (!r && !w) throw new GuestEncodeError('a mapping needs read or write: an entry with R = W = 0 is not present');
    const leaf =
      hpa | (r ? SsPte.R : 0n) | (w ? SsPte.W : 0n) | (opts.exec ? SsPte.X : 0n) |
      (level > 1 ? SsPte.PS : 0n) | checkU64('raw', opts.raw ?? 0n);
    const at = this.walk(iova, level, true);
    const old = this.mem.readU64(at);
    if (present(old) && level > 1 && !(old & SsPte.PS)) {
      throw new GuestEncodeError(
        `iova ${hex(iova)}: a level-${level} table of smaller pages is already there; cannot map a ${sizeName(size)} page over it`,
      );
    }
    this.mem.writeU64(at, leaf);
    return at;
  }

  /** Clear the leaf mapping `iova` (the page's base address); returns its size, 0 if unmapped. */
  unmap(iova: bigint): number {
    this.checkRange(iova);
    let table = this.root;
    for (let l: number = this.levels; ; l--) {
      const at = table + levelIndex(iova, l) * 8n;
      const e = this.mem.readU64(at);
      if (!present(e)) return 0;
      if (l === 1 || ((l === 2 || l === 3) && e & SsPte.PS)) {
        checkAligned(`iova (inside a ${sizeName(levelSize(l))} page)`, iova, levelSize(l));
        this.mem.writeU64(at, 0n);
        return Number(levelSize(l));
      }
      table = e & SsPte.ADDR;
    }
  }

  /** GPA of the entry for `iova` at `level` (levels..1); its tables must exist. */
  entryAddress(iova: bigint, level: number): bigint {
    this.checkRange(iova);
    if (!Number.isInteger(level) || level < 1 || level > this.levels) {
      throw new GuestEncodeError(`level must be in [1, ${this.levels}], got ${level}`);
    }
    return this.walk(iova, level, false);
  }

  /** The table translates 12 + 9 * levels input bits (39, 48 or 57). */
  private checkRange(iova: bigint): void {
    const width = BigInt(12 + 9 * this.levels);
    if (iova < 0n || iova >> width !== 0n) {
      throw new GuestEncodeError(`iova must be below 2^${width} for ${this.levels}-level paging, got ${hex(iova)}`);
    }
  }

  private walk(iova: bigint, level: number, create: boolean): bigint {
    let table = this.root;
    for (let l: number = this.levels; l > level; l--) {
      const at = table + levelIndex(iova, l) * 8n;
      const e = this.mem.readU64(at);
      if (!present(e)) {
        if (!create) throw new GuestEncodeError(`iova ${hex(iova)} has no level-${l - 1} table: its level-${l} entry is not present`);
        table = this.alloc.alloc();
        this.mem.writeU64(at, table | this.tableBits);
      } else if ((l === 2 || l === 3) && e & SsPte.PS) {
        throw new GuestEncodeError(`iova ${hex(iova)} is inside a ${sizeName(levelSize(l))} page mapped at level ${l}`);
      } else {
        table = e & SsPte.ADDR;
      }
    }
    return table + levelIndex(iova, level) * 8n;
  }
}
