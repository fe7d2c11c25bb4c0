/**
 * The translation caches of the WASM core — context cache, PASID cache, IOTLB — and the
 * invalidations that remove exactly what the VT-d specification says they remove. Guests reach
 * these through the register file and the invalidation queue; embedders that drive the core
 * directly use them after editing tables.
 */
import { VtdArgumentError } from './errors.js';
import type { CoreExports } from './wasm/core.js';
import type { LinearAllocator } from './wasm/linear.js';

export interface CacheSizes {
  /** Context-cache entries (default 256; 0 = no context cache). */
  context?: number;
  /** PASID-cache entries (default 4096, enough for a thousand PASIDs in use at once without conflict misses; 0 = no PASID cache). */
  pasid?: number;
  /** IOTLB entries (default 4096; 0 = no IOTLB: every request walks from the PASID entry). */
  iotlb?: number;
  /** Associativity of every cache: 1, 2, 4 (default), 8 or 16; a cache smaller than this is fully associative. */
  ways?: number;
}

/** `false` turns caching off: every request walks the tables. */
export type CacheOptions = CacheSizes | false;

const DEFAULTS = { context: 256, pasid: 4096, iotlb: 4096, ways: 4 };

export interface CacheStats {
  iotlbHits: number;
  iotlbMisses: number;
}

function geometry(name: string, entries: number, ways: number): { sets: number; ways: number } {
  if (entries === 0) return { sets: 0, ways: 0 };
  if (!Number.isInteger(entries) || entries < 1 || entries > 1 << 20 || (entries & (entries - 1)) !== 0) {
    throw new VtdArgumentError(`caches.${name} must be 0 or a power of two in [1, 2^20], got ${entries}`);
  }
  const w = Math.min(ways, entries);
  return { sets: entries / w, ways: w };
}

export const ContextInvalidation = { GLOBAL: 1, DOMAIN: 2, DEVICE: 3 } as const;
export const PasidCacheInvalidation = { DOMAIN: 0, PASID: 1, GLOBAL: 3 } as const;
export const IotlbInvalidation = { GLOBAL: 1, DOMAIN: 2, PAGE: 3 } as const;
export const PasidIotlbInvalidation = { ALL_IN_PASID: 2, PAGE: 3 } as const;

function checkU(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new VtdArgumentError(`${name} must be an integer in [0, ${max}], got ${v}`);
}

function addrHalves(addr: bigint): [number, number] {
  if (typeof addr !== 'bigint' || addr < 0n || addr >= 1n << 64n) throw new VtdArgumentError('addr must be a 64-bit unsigned bigint');
  return [Number(addr & 0xffff_ffffn), Number(addr >> 32n)];
}

export class Caches {
  /** Whether any cache is on. */
  readonly enabled: boolean;

  /** @internal */
  constructor(private readonly core: CoreExports, alloc: LinearAllocator, options: CacheOptions | undefined) {
    this.enabled = options !== false && !(options?.context === 0 && options?.pasid === 0 && options?.iotlb === 0);
    if (options === false) {
      core.ccConfigure(0, 0, 0);
      core.pcConfigure(0, 0, 0);
      core.tlbConfigure(0, 0, 0);
      return;
    }
    const o = { ...DEFAULTS, ...(options ?? {}) };
    if (![1, 2, 4, 8, 16].includes(o.ways)) throw new VtdArgumentError(`caches.ways must be 1, 2, 4, 8 or 16, got ${o.ways}`);
    const cc = geometry('context', o.context, o.ways);
    const pc = geometry('pasid', o.pasid, o.ways);
    const tlb = geometry('iotlb', o.iotlb, o.ways);
    core.ccConfigure(cc.sets ? alloc.alloc(o.context * 64, 64) : 0, cc.sets, cc.ways);
    core.pcConfigure(pc.sets ? alloc.alloc(core.pcBytes(o.pasid), 64) : 0, pc.sets, pc.ways);
    core.tlbConfigure(tlb.sets ? alloc.alloc(o.iotlb * 32, 64) : 0, tlb.sets, tlb.ways);
  }

  /** Drop everything cached (what SRTP, a TE change and reset do). */
  flush(): void {
    this.core.flushCaches();
  }

  /** Context-cache invalidation: global, domain-selective (DID) or device-selective (SID with function mask FM). */
  invalidateContext(granularity: 'global' | 'domain' | 'device', opts: { did?: number; sid?: number; fm?: number } = {}): void {
    const did = opts.did ?? 0, sid = opts.sid ?? 0, fm = opts.fm ?? 0;
    checkU('did', did, 0xffff);
    checkU('sid', sid, 0xffff);
    checkU('fm', fm, 3);
    const g = { global: 1, domain: 2, device: 3 }[granularity];
    if (g === undefined) throw new VtdArgumentError(`unknown context-cache invalidation granularity '${String(granularity)}'`);
    this.core.ccInvalidate(g, did, sid, fm, this.scalableMode ? 1 : 0);
  }

  /** PASID-cache invalidation: domain-selective (DID), PASID-selective (DID + PASID) or global. */
  invalidatePasidCache(granularity: 'domain' | 'pasid' | 'global', opts: { did?: number; pasid?: number } = {}): void {
    const did = opts.did ?? 0, pasid = opts.pasid ?? 0;
    checkU('did', did, 0xffff);
    checkU('pasid', pasid, 0xfffff);
    const g = { domain: 0, pasid: 1, global: 3 }[granularity];
    if (g === undefined) throw new VtdArgumentError(`unknown PASID-cache invalidation granularity '${String(granularity)}'`);
    this.core.pcInvalidate(g, did, pasid);
  }

  /**
   * IOTLB invalidation (the IOTLB descriptor and register): global, domain-selective, or
   * page-selective — second-stage entries of the DID in [addr, addr + 4 KiB * 2^am), and every
   * first-stage/nested entry of the DID.
   */
  invalidateIotlb(granularity: 'global' | 'domain' | 'page', opts: { did?: number; addr?: bigint; am?: number } = {}): void {
    const did = opts.did ?? 0, am = opts.am ?? 0;
    checkU('did', did, 0xffff);
    checkU('am', am, 63);
    const [lo, hi] = addrHalves(opts.addr ?? 0n);
    const g = { global: 1, domain: 2, page: 3 }[granularity];
    if (g === undefined) throw new VtdArgumentError(`unknown IOTLB invalidation granularity '${String(granularity)}'`);
    this.core.iotlbInvalidate(g, did, lo, hi, am);
  }

  /**
   * PASID-based IOTLB invalidation: all entries of DID + PASID, or first-stage/nested entries of
   * DID + PASID in [addr, addr + 4 KiB * 2^am) (second-stage and pass-through entries stay).
   */
  invalidatePasidIotlb(granularity: 'pasid' | 'page', opts: { did: number; pasid: number; addr?: bigint; am?: number }): void {
    const { did, pasid } = opts;
    const am = opts.am ?? 0;
    checkU('did', did, 0xffff);
    checkU('pasid', pasid, 0xfffff);
    checkU('am', am, 63);
    const [lo, hi] = addrHalves(opts.addr ?? 0n);
    const g = { pasid: 2, page: 3 }[granularity];
    if (g === undefined) throw new VtdArgumentError(`unknown PASID-based IOTLB invalidation granularity '${String(granularity)}'`);
    this.core.piotlbInvalidate(g, did, pasid, lo, hi, am);
  }

  stats(): CacheStats {
    return { iotlbHits: this.core.iotlbHits(), iotlbMisses: this.core.iotlbMisses() };
  }

  resetStats(): void {
    this.core.resetCounters();
  }

  /** @internal Set by Vtd: whether the root table is in scalable mode. */
  scalableMode = true;
}
