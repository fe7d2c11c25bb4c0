import { checkAligned, checkU64, checkUint, GuestEncodeError, hex } from './errors.js';
import { PAGE_4K, type GuestMemoryFill, type GuestMemoryLike } from './memory.js';

/** A guest-physical RAM range the allocator may hand out. */
export interface GuestRange {
  base: bigint;
  size: bigint;
}

interface Extent {
  base: bigint;
  pages: number;
  /** Range the extent belongs to: extents of different ranges never merge, so no allocation
   *  straddles two RAM regions. */
  range: number;
}

const PAGE = BigInt(PAGE_4K);

/**
 * Hands out zeroed, 4 KiB-aligned guest pages (first fit) for paging structures, like
 * `get_freeListppn` in the riscv-iommu reference model's table library. Pages are zeroed on
 * allocation, because VT-d tables must start with every entry not present and guest RAM (or
 * a freed page) may hold anything.
 */
export class GuestPageAllocator {
  /** Pages in all ranges. */
  readonly total: number;
  private readonly ranges: readonly GuestRange[];
  private freeList: Extent[];
  private used_ = 0;

  constructor(
    private readonly mem: GuestMemoryLike & Partial<GuestMemoryFill>,
    ranges: readonly GuestRange[],
  ) {
    if (ranges.length === 0) throw new GuestEncodeError('ranges must hold at least one range');
    this.ranges = ranges.map((r, i) => {
      checkAligned(`ranges[${i}].base`, r.base, PAGE);
      checkAligned(`ranges[${i}].size`, r.size, PAGE);
      if (r.size === 0n) throw new GuestEncodeError(`ranges[${i}].size must be > 0`);
      checkU64(`ranges[${i}] end`, r.base + r.size - 1n);
      return { base: r.base, size: r.size };
    });
    this.ranges.forEach((a, i) =>
      this.ranges.forEach((b, j) => {
        if (i < j && a.base < b.base + b.size && b.base < a.base + a.size) {
          throw new GuestEncodeError(`ranges[${i}] and ranges[${j}] must not overlap`);
        }
      }),
    );
    this.freeList = this.ranges
      .map((r, range) => ({ base: r.base, pages: Number(r.size / PAGE), range }))
      .sort((a, b) => (a.base < b.base ? -1 : 1));
    this.total = this.freeList.reduce((n, e) => n + e.pages, 0);
  }

  /** Pages handed out and not freed. */
  get used(): number {
    return this.used_;
  }

  /** Pages still free (possibly fragmented). */
  get available(): number {
    return this.total - this.used_;
  }

  /**
   * `pages` contiguous zeroed pages whose GPA is a multiple of `alignPages` pages (a power of
   * two; e.g. for structures a test wants naturally aligned).
   */
  alloc(pages = 1, alignPages = 1): bigint {
    checkUint('pages', pages, Number.MAX_SAFE_INTEGER);
    if (pages === 0) throw new GuestEncodeError('pages must be >= 1');
    checkUint('alignPages', alignPages, 2 ** 52);
    if (alignPages === 0 || (alignPages & (alignPages - 1)) !== 0) {
      throw new GuestEncodeError(`alignPages must be a power of two, got ${alignPages}`);
    }
    const align = BigInt(alignPages) * PAGE;
    for (let i = 0; i < this.freeList.length; i++) {
      const e = this.freeList[i]!;
      const start = ((e.base + align - 1n) / align) * align;
      const skip = Number((start - e.base) / PAGE);
      if (skip + pages > e.pages) continue;
      const pieces: Extent[] = [];
      if (skip > 0) pieces.push({ base: e.base, pages: skip, range: e.range });
      const rest = e.pages - skip - pages;
      if (rest > 0) pieces.push({ base: start + BigInt(pages) * PAGE, pages: rest, range: e.range });
      this.freeList.splice(i, 1, ...pieces);
      this.used_ += pages;
      this.zero(start, pages);
      return start;
    }
    throw new GuestEncodeError(
      `allocator exhausted: no ${pages} free contiguous page(s) aligned to ${alignPages} page(s) ` +
        `(${this.available} of ${this.total} pages free)`,
    );
  }

  /** Return pages from `alloc`. Freeing pages that are free or outside every range throws. */
  free(gpa: bigint, pages = 1): void {
    checkAligned('gpa', gpa, PAGE);
    checkUint('pages', pages, Number.MAX_SAFE_INTEGER);
    if (pages === 0) throw new GuestEncodeError('pages must be >= 1');
    const end = gpa + BigInt(pages) * PAGE;
    const range = this.ranges.findIndex((r) => gpa >= r.base && end <= r.base + r.size);
    if (range < 0) {
      throw new GuestEncodeError(`free(${hex(gpa)}, ${pages}) must lie inside one allocator range`);
    }
    if (this.freeList.some((e) => gpa < e.base + BigInt(e.pages) * PAGE && e.base < end)) {
      throw new GuestEncodeError(`free(${hex(gpa)}, ${pages}) overlaps free pages (double free?)`);
    }
    let at = this.freeList.findIndex((e) => e.base > gpa);
    if (at < 0) at = this.freeList.length;
    this.freeList.splice(at, 0, { base: gpa, pages, range });
    this.used_ -= pages;
    // Merge with the following, then the preceding extent of the same range.
    for (const i of [at, at - 1]) {
      const a = this.freeList[i];
      const b = this.freeList[i + 1];
      if (a && b && a.range === b.range && a.base + BigInt(a.pages) * PAGE === b.base) {
        a.pages += b.pages;
        this.freeList.splice(i + 1, 1);
      }
    }
  }

  private zero(gpa: bigint, pages: number): void {
    if (typeof this.mem.fill === 'function') {
      this.mem.fill(gpa, pages * PAGE_4K, 0);
      return;
    }
    const end = gpa + BigInt(pages) * PAGE;
    for (let a = gpa; a < end; a += 8n) this.mem.writeU64(a, 0n);
  }
}
