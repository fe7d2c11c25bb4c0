/**
 * An IOAS and its io_pagetable (§3): areas (IOVA -> host address, with R/W), reserved
 * ranges (domain apertures and device reserved regions, each with an owner), the allowed
 * list, and the IOVA alignment the attached domains impose. The rules and their order follow
 * drivers/iommu/iommufd/ioas.c and io_pagetable.c.
 */
import { fail } from './errors.js';
import type { HwptPagingObject } from './hwpt.js';
import type { BaseObject } from './objects.js';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, type IovaRange, type IovaRanges,
} from './types.js';

export const U64_MAX = (1n << 64n) - 1n;
/** ULONG_MAX and SIZE_MAX of a 64-bit kernel. */
export const ULONG_MAX = U64_MAX;
/** Host PAGE_SIZE (x86-64). */
export const PAGE_SIZE = 4096n;
/** HPAGE_SIZE with transparent huge pages: the cap on automatic IOVA alignment. */
export const HPAGE_SIZE = 2n * 1024n * 1024n;

const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/**
 * Host memory behind IOAS mappings: which host address ranges can be pinned. A mapping of a
 * range it rejects fails with EFAULT once a domain needs the pages (§3.3 step 11).
 */
export interface HostMemory {
  contains(hostAddr: bigint, length: bigint): boolean;
}

/** What the io_pagetable needs to know about a domain (an HWPT_PAGING) added to it. */
export interface IoptDomain {
  /** domain->geometry.aperture_start/_end. */
  readonly aperture: IovaRange;
  /** 1 << __ffs(pgsize_bitmap): 4096 for VT-d. */
  readonly minPageSize: bigint;
  /** generic_pt PT_FEAT_VTDSS_FORCE_WRITEABLE (Intel nest parent): read-only maps fail with EINVAL. */
  readonly forceWriteable: boolean;
}

export interface Area {
  iova: bigint;
  /** Inclusive. */
  last: bigint;
  hostAddr: bigint;
  read: boolean;
  write: boolean;
}

interface Reserved extends IovaRange {
  owner: object;
}

const overlaps = (a: IovaRange, start: bigint, last: bigint): boolean => a.start <= last && start <= a.last;

function roundupPow2(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

const lowestBit = (n: bigint): bigint => n & -n;

/**
 * Hooks the map path calls when the pages are loaded into domains (iopt_fill_domains_pages):
 * pinning and the per-domain map, so the caller can inject faults there.
 */
export interface FillHooks {
  hostMemory?: HostMemory;
  /** Called once per (area, domain) before the domain's map. */
  beforeDomainMap?: () => void;
}

export class IoPageTable {
  /** Sorted by IOVA, non-overlapping. */
  private areas: Area[] = [];
  private reserved: Reserved[] = [];
  private allowed: IovaRange[] = [];
  private readonly domains: IoptDomain[] = [];
  /** iopt->iova_alignment. */
  alignment = 1n;

  get areaCount(): number {
    return this.areas.length;
  }

  /** Copies, for inspection. */
  listAreas(): Area[] {
    return this.areas.map((a) => ({ ...a }));
  }

  listReserved(): (IovaRange & { owner: object })[] {
    return this.reserved.map((r) => ({ ...r }));
  }

  listAllowed(): IovaRange[] {
    return this.allowed.map((r) => ({ ...r }));
  }

  get domainCount(): number {
    return this.domains.length;
  }

  /** The area holding `iova`, if any (binary search). */
  lookup(iova: bigint): Area | undefined {
    const a = this.areas;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = a[mid]!;
      if (iova < m.iova) hi = mid - 1;
      else if (iova > m.last) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /** iopt_area_iter_first: the lowest area intersecting [start, last]. */
  private firstArea(start: bigint, last: bigint): Area | undefined {
    return this.areas.find((a) => overlaps({ start: a.iova, last: a.last }, start, last));
  }

  private reservedHit(start: bigint, last: bigint): boolean {
    return this.reserved.some((r) => overlaps(r, start, last));
  }

  private allowedHit(start: bigint, last: bigint): boolean {
    return this.allowed.some((r) => overlaps(r, start, last));
  }

  private insertArea(area: Area): void {
    let i = 0;
    while (i < this.areas.length && this.areas[i]!.iova < area.iova) i++;
    this.areas.splice(i, 0, area);
  }

  /**
   * iopt_map_user_pages after iommufd_ioas_map's own checks (flags, EOVERFLOW of iova/length,
   * R/W, IOAS lookup). `userVa` undefined = identity: the host address is the IOVA.
   */
  map(iovaIn: bigint, length: bigint, userVa: bigint | undefined, flags: number, hooks: FillHooks): bigint {
    const fixed = (flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
    const identity = userVa === undefined;
    const va = userVa ?? (fixed ? iovaIn : 0n);
    // iopt_alloc_pages
    if (va + length > U64_MAX) fail('EOVERFLOW', 'user_va + length overflows (iopt_alloc_pages)');
    if (length === 0n || length > ULONG_MAX - PAGE_SIZE) fail('EINVAL', 'length is 0 or above SIZE_MAX - PAGE_SIZE (iopt_alloc_pages)');
    // iopt_alloc_area_pages
    const align = this.alignment;
    if (length & (align - 1n)) fail('EINVAL', `length is not a multiple of the IOAS's IOVA alignment ${align} (iopt_alloc_area_pages)`);
    const pageOffset = va % PAGE_SIZE;
    let iova: bigint;
    if (!fixed) {
      iova = this.allocIova(va, length, pageOffset);
    } else {
      iova = iovaIn;
      this.checkIova(iova, length);
    }
    // iopt_insert_area
    if (pageOffset & (align - 1n)) fail('EINVAL', 'user_va page offset is not aligned to the IOVA alignment (iopt_insert_area)');
    if (iova + length - 1n > U64_MAX) fail('EOVERFLOW', 'iova + length - 1 overflows (iopt_insert_area)');
    const area: Area = {
      iova,
      last: iova + length - 1n,
      hostAddr: identity && !fixed ? iova : va,
      read: (flags & IOMMU_IOAS_MAP_READABLE) !== 0,
      write: (flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
    };
    // iopt_fill_domains_pages: nothing is inserted unless every domain took the pages
    this.fillArea(area, this.domains, hooks);
    this.insertArea(area);
    return iova;
  }

  /** Pin + map `area` into `domains` (iopt_area_fill_domains / iopt_fill_domain). */
  private fillArea(area: Area, domains: readonly IoptDomain[], hooks: FillHooks): void {
    if (domains.length === 0) return; // lazy: an IOAS without domains pins nothing
    const length = area.last - area.iova + 1n;
    if (hooks.hostMemory && !hooks.hostMemory.contains(area.hostAddr, length)) {
      fail('EFAULT', `host range [0x${area.hostAddr.toString(16)}, +0x${length.toString(16)}) cannot be pinned (pfn_reader)`);
    }
    for (const d of domains) {
      hooks.beforeDomainMap?.();
      if (d.forceWriteable && !area.write) {
        fail('EINVAL', 'read-only mapping into an Intel nest-parent domain (PT_FEAT_VTDSS_FORCE_WRITEABLE, ERRATA_772415_SPR17)');
      }
    }
  }

  /** iopt_alloc_iova. */
  private allocIova(va: bigint, length: bigint, pageOffset: bigint): bigint {
    if (length === 0n || length >= ULONG_MAX / 2n) fail('EOVERFLOW', 'length too large for automatic IOVA (iopt_alloc_iova)');
    let align = va === 0n ? roundupPow2(length) : (roundupPow2(length) < lowestBit(va) ? roundupPow2(length) : lowestBit(va));
    if (align >= HPAGE_SIZE) align = HPAGE_SIZE;
    if (align < this.alignment) fail('EINVAL', `automatic IOVA alignment ${align} is below the IOAS alignment ${this.alignment} (iopt_alloc_iova)`);
    const lo = PAGE_SIZE;
    const hi = ULONG_MAX - PAGE_SIZE;
    const spans: IovaRange[] = this.allowed.length === 0
      ? [{ start: lo, last: hi }]
      : this.allowed
        .filter((r) => r.last >= lo && r.start <= hi)
        .map((r) => ({ start: r.start < lo ? lo : r.start, last: r.last > hi ? hi : r.last }))
        .sort((a, b) => (a.start < b.start ? -1 : 1));
    for (const span of spans) {
      const s = checkRange(span.start, span.last, length, align, pageOffset);
      if (s === undefined) continue;
      for (const hole of holes(s, span.last, [...this.reserved, ...this.areas.map((a) => ({ start: a.iova, last: a.last }))])) {
        const start = checkRange(hole.start, hole.last, length, align, pageOffset);
        if (start !== undefined) return start;
      }
    }
    return fail('ENOSPC', 'no free IOVA range fits (iopt_alloc_iova)');
  }

  /** iopt_check_iova (FIXED_IOVA). Allowed ranges are not consulted. */
  private checkIova(iova: bigint, length: bigint): void {
    if (iova & (this.alignment - 1n)) fail('EINVAL', `iova is not aligned to the IOAS's IOVA alignment ${this.alignment} (iopt_check_iova)`);
    const last = iova + length - 1n;
    if (last > U64_MAX) fail('EOVERFLOW', 'iova + length - 1 overflows (iopt_check_iova)');
    if (this.reservedHit(iova, last)) fail('EINVAL', 'range intersects a reserved IOVA range (iopt_check_iova)');
    if (this.firstArea(iova, last)) fail('EEXIST', 'range intersects an existing mapping (iopt_check_iova)');
  }

  /**
   * iopt_unmap_iova_range: unmaps every area inside [start, last] in IOVA order. An area
   * sticking out of the range stops the walk with ENOENT; areas unmapped before it stay
   * unmapped (the kernel is not atomic here). Returns the bytes unmapped.
   */
  unmapRange(start: bigint, last: bigint): bigint {
    let unmapped = 0n;
    for (;;) {
      const area = this.firstArea(start, last);
      if (!area) return unmapped;
      if (area.iova < start || area.last > last) {
        fail('ENOENT', `mapping [0x${area.iova.toString(16)}, 0x${area.last.toString(16)}] is not fully inside the range: ` +
          `unmap never splits a mapping (iopt_unmap_iova_range)${unmapped ? `; 0x${unmapped.toString(16)} bytes before it were unmapped` : ''}`);
      }
      this.areas.splice(this.areas.indexOf(area), 1);
      unmapped += area.last - area.iova + 1n;
    }
  }

  /** Everything (IOAS destroy, unmap-all). */
  unmapAll(): bigint {
    return this.unmapRange(0n, U64_MAX);
  }

  /** IOMMU_IOAS_IOVA_RANGES: the holes of the reserved ranges over [0, U64_MAX]. */
  iovaRanges(): IovaRanges {
    return { ranges: holes(0n, U64_MAX, this.reserved), alignment: this.alignment };
  }

  /** iommufd_ioas_load_iovas + iopt_set_allow_iova. */
  setAllowed(ranges: readonly IovaRange[]): void {
    const next: IovaRange[] = [];
    for (const r of ranges) {
      if (r.start >= r.last) fail('EINVAL', 'allowed range with start >= last (iommufd_ioas_load_iovas)');
      if (next.some((n) => overlaps(n, r.start, r.last))) fail('EINVAL', 'allowed ranges overlap (iommufd_ioas_load_iovas)');
      next.push({ start: r.start, last: r.last });
    }
    if (next.some((n) => this.reservedHit(n.start, n.last))) {
      fail('EADDRINUSE', 'an allowed range intersects a reserved range (iopt_set_allow_iova)');
    }
    this.allowed = next.sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /** iopt_reserve_iova. */
  reserve(start: bigint, last: bigint, owner: object, why: string): void {
    if (this.firstArea(start, last) || this.allowedHit(start, last)) {
      fail('EADDRINUSE', `${why} [0x${start.toString(16)}, 0x${last.toString(16)}] intersects a mapping or an allowed range (iopt_reserve_iova)`);
    }
    this.reserved.push({ start, last, owner });
  }

  /** iopt_remove_reserved_iova(owner). */
  removeReserved(owner: object): void {
    this.reserved = this.reserved.filter((r) => r.owner !== owner);
  }

  hasReservedOf(owner: object): boolean {
    return this.reserved.some((r) => r.owner === owner);
  }

  /** iopt_table_add_domain: alignment, aperture reservations, then every area into the domain. */
  addDomain(domain: IoptDomain, hooks: FillHooks): void {
    if (this.domains.includes(domain)) throw new Error('internal: domain added twice');
    const newAlign = domain.minPageSize > this.alignment ? domain.minPageSize : this.alignment;
    if (newAlign > PAGE_SIZE) fail('EINVAL', 'domain page size above PAGE_SIZE (iopt_table_add_domain)');
    if (newAlign !== this.alignment) this.checkAlignment(newAlign);
    try {
      const { start, last } = domain.aperture;
      if (start !== 0n) this.reserve(0n, start - 1n, domain, 'the domain aperture exclusion');
      if (last !== U64_MAX) this.reserve(last + 1n, U64_MAX, domain, 'the domain aperture exclusion');
      for (const area of this.areas) this.fillArea(area, [domain], hooks);
    } catch (e) {
      this.removeReserved(domain);
      throw e;
    }
    this.alignment = newAlign;
    this.domains.push(domain);
  }

  /** iopt_table_remove_domain. */
  removeDomain(domain: IoptDomain): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) throw new Error('internal: removing a domain that is not in the IOAS');
    this.domains.splice(i, 1);
    this.removeReserved(domain);
    this.alignment = this.domains.reduce((m, d) => (d.minPageSize > m ? d.minPageSize : m), 1n);
  }

  /** iopt_check_iova_alignment. */
  private checkAlignment(align: bigint): void {
    const mask = align - 1n;
    for (const a of this.areas) {
      if (a.iova & mask || (a.last - a.iova + 1n) & mask || (a.hostAddr % PAGE_SIZE) & mask) {
        fail('EADDRINUSE', `existing mapping at 0x${a.iova.toString(16)} is not aligned to ${align} (iopt_check_iova_alignment)`);
      }
    }
  }
}

/** __alloc_iova_check_range: the aligned start inside [start, last], or undefined. */
function checkRange(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint | undefined {
  if (start + align - 1n > U64_MAX) return undefined;
  const aligned = ((start + align - 1n) & ~(align - 1n)) | pageOffset;
  if (aligned >= last || last - aligned < length - 1n) return undefined;
  return aligned;
}

/** The gaps of `used` inside [start, last], ascending. */
function holes(start: bigint, last: bigint, used: readonly IovaRange[]): IovaRange[] {
  const sorted = used.filter((u) => u.last >= start && u.start <= last).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: IovaRange[] = [];
  let cur = start;
  let done = false;
  for (const u of sorted) {
    if (u.start > cur) out.push({ start: cur, last: u.start - 1n });
    if (u.last >= last) {
      done = true;
      break;
    }
    if (u.last + 1n > cur) cur = u.last + 1n;
  }
  if (!done && cur <= last) out.push({ start: cur, last });
  return out;
}

/** IOMMUFD_OBJ_IOAS. */
export interface IoasObject extends BaseObject {
  readonly type: 'ioas';
  readonly iopt: IoPageTable;
  /** ioas->hwpt_list: its HWPT_PAGING objects in creation order (auto domains are searched in it). */
  readonly hwpts: HwptPagingObject[];
}

export { MAP_FLAGS };
