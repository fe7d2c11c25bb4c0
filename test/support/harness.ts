/**
 * Runs the WASM core and the reference walker side by side on the same guest RAM and
 * requests, and reports the first disagreement (result or memory contents after A/D updates).
 */
import { Vtd, type CacheOptions, type Caps, type FirstStageWalkRequest, type TranslateRequest, type TranslateResult } from '../../src/index.js';
import { RegionMemory, refFirstStageWalk, refTranslate, type RefEnv } from '../../src/reference/index.js';
import { resolveCaps } from '../../src/spec/caps.js';

export interface RegionLayout { base: bigint; size: number }

export class Pair {
  readonly ref: { regions: { base: bigint; bytes: Uint8Array }[]; mem: RegionMemory };
  env: RefEnv;

  private constructor(readonly vtd: Vtd, readonly layout: RegionLayout[], caps: Caps) {
    const regions = layout.map((r) => ({ base: r.base, bytes: new Uint8Array(r.size) }));
    this.ref = { regions, mem: new RegionMemory(regions) };
    this.env = { mem: this.ref.mem, caps, te: false, scalable: true, rtaddr: 0n };
  }

  static async create(layout: RegionLayout[], caps: Partial<Caps> = {}, caches?: CacheOptions): Promise<Pair> {
    const vtd = await Vtd.create({ memory: { regions: layout }, caps, ...(caches === undefined ? {} : { caches }) });
    return new Pair(vtd, layout, resolveCaps(caps));
  }

  /** Load the same bytes into both memories (`fill(regionIndex, bytes)` writes the region). */
  load(fill: (i: number, bytes: Uint8Array) => void): void {
    this.ref.regions.forEach((r, i) => {
      fill(i, r.bytes);
      this.vtd.memory.view(r.base, r.bytes.length).set(r.bytes);
    });
    this.vtd.caches.flush(); // the tables changed under the caches: as after a global invalidation
  }

  /** Copy the WASM side's RAM (e.g. tables built through vtd.memory) into the reference's. */
  syncFromWasm(): void {
    for (const r of this.ref.regions) r.bytes.set(this.vtd.memory.view(r.base, r.bytes.length));
    this.vtd.caches.flush();
  }

  setRoot(rtaddr: bigint, scalable: boolean): void {
    this.vtd.setRootTable(rtaddr, { scalable });
    this.env = { ...this.env, te: true, scalable, rtaddr };
  }

  /**
   * Both walkers on one request. The WASM caches are dropped first: the reference has none,
   * and a walk may write A/D bits into memory that a corrupted table aliases as its own
   * structures, which a cache legitimately keeps stale.
   */
  translate(req: TranslateRequest): { wasm: TranslateResult; ref: TranslateResult } {
    this.vtd.caches.flush();
    return { wasm: this.vtd.translate(req), ref: refTranslate(this.env, req) };
  }

  firstStageWalk(req: FirstStageWalkRequest): { wasm: TranslateResult; ref: TranslateResult } {
    return { wasm: this.vtd.firstStageWalk(req), ref: refFirstStageWalk(this.env, req) };
  }

  /** Index of the first byte where the two memories differ, or undefined. */
  memoryDiff(): string | undefined {
    for (const r of this.ref.regions) {
      const w = this.vtd.memory.view(r.base, r.bytes.length);
      if (Buffer.compare(w, r.bytes) === 0) continue;
      for (let i = 0; i < w.length; i += 8) {
        for (let j = i; j < i + 8; j++) {
          if (w[j] !== r.bytes[j]) {
            const q = (a: Uint8Array) => new DataView(a.buffer, a.byteOffset + i, 8).getBigUint64(0, true).toString(16);
            return `qword at GPA 0x${(r.base + BigInt(i)).toString(16)}: wasm 0x${q(w)} reference 0x${q(r.bytes)}`;
          }
        }
      }
    }
    return undefined;
  }
}

/** mulberry32: fast, seedable, good enough to generate tables and requests. */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  u32(): number {
    let t = (this.a = (this.a + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Uniform integer in [0, n), n <= 2^32. */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}
