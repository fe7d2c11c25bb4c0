/**
 * Guest RAM: a list of regions (guest-physical base, size) backed by the WASM core's linear
 * memory, so the hot path reads tables in place. Host-side accessors (what a device model or a
 * test uses) are bounds-checked and throw VtdMemoryError outside RAM; the walkers instead turn
 * such addresses into VT-d faults.
 */
import { VtdArgumentError, VtdMemoryError } from '../errors.js';
import type { CoreExports } from '../wasm/core.js';
import type { LinearAllocator } from '../wasm/linear.js';

export interface RegionSpec {
  /** Guest-physical base, 4 KiB aligned. */
  base: bigint | number;
  /** Bytes, a multiple of 4 KiB. */
  size: bigint | number;
}

export interface Region {
  readonly base: bigint;
  readonly size: number;
  /** Where the region lives in the core's linear memory. */
  readonly linear: number;
}

/**
 * Guest RAM ceiling: wasm32 linear memory is 4 GiB; 64 MiB of it stay for the core's own data
 * and batch buffers.
 */
export const MAX_GUEST_RAM = 4 * 1024 * 1024 * 1024 - 64 * 1024 * 1024;

const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;

export function toGpa(v: bigint | number, what = 'gpa'): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new VtdArgumentError(`${what} must be a non-negative integer, got ${v}`);
    return BigInt(v);
  }
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new VtdArgumentError(`${what} must be a 64-bit unsigned bigint`);
  return v;
}

/** Checks a region list: aligned, sized, non-overlapping, within the RAM ceiling. */
export function validateRegions(specs: readonly RegionSpec[], maxRegions: number): { base: bigint; size: number }[] {
  if (!Array.isArray(specs) || specs.length === 0) throw new VtdArgumentError('memory.regions must be a non-empty array');
  if (specs.length > maxRegions) throw new VtdArgumentError(`at most ${maxRegions} RAM regions are supported, got ${specs.length}`);
  const regions = specs.map((s, i) => {
    const base = toGpa(s.base, `regions[${i}].base`);
    const size = toGpa(s.size, `regions[${i}].size`);
    if (base % PAGE !== 0n) throw new VtdArgumentError(`regions[${i}].base must be 4 KiB aligned`);
    if (size === 0n || size % PAGE !== 0n) throw new VtdArgumentError(`regions[${i}].size must be a non-zero multiple of 4 KiB`);
    if (base + size > U64_MAX) throw new VtdArgumentError(`regions[${i}] runs past the 64-bit address space`);
    return { base, size: Number(size) };
  });
  const total = regions.reduce((a, r) => a + r.size, 0);
  if (total > MAX_GUEST_RAM) {
    throw new VtdArgumentError(`guest RAM of ${total} bytes exceeds the ${MAX_GUEST_RAM}-byte ceiling (wasm32 linear memory)`);
  }
  const sorted = [...regions].sort((a, b) => (a.base < b.base ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]!.base + BigInt(sorted[i - 1]!.size) > sorted[i]!.base) throw new VtdArgumentError('RAM regions overlap');
  }
  return regions;
}

export class GuestMemory {
  readonly regions: readonly Region[];
  private u8cache: Uint8Array;
  private dv: DataView;

  /** @internal Created by Vtd.create. */
  constructor(private readonly core: CoreExports, alloc: LinearAllocator, specs: readonly RegionSpec[]) {
    const checked = validateRegions(specs, core.maxRegions());
    this.regions = checked.map((r) => ({ ...r, linear: alloc.alloc(r.size, 4096) }));
    this.regions.forEach((r, i) => core.setRegion(i, r.base, BigInt(r.size), r.linear));
    core.setRegionCount(this.regions.length);
    this.u8cache = new Uint8Array(core.memory.buffer);
    this.dv = new DataView(core.memory.buffer);
  }

  /** Total bytes of guest RAM. */
  get size(): number {
    return this.regions.reduce((a, r) => a + r.size, 0);
  }

  /** Views are re-created after the linear memory grew (growth detaches the old buffer). */
  private get u8(): Uint8Array {
    if (this.u8cache.buffer !== this.core.memory.buffer) {
      this.u8cache = new Uint8Array(this.core.memory.buffer);
      this.dv = new DataView(this.core.memory.buffer);
    }
    return this.u8cache;
  }

  /** Linear address of [gpa, gpa+len) if it lies inside one region, else undefined. */
  linearOf(gpa: bigint | number, len: number): number | undefined {
    const g = toGpa(gpa);
    for (const r of this.regions) {
      if (g >= r.base && g - r.base + BigInt(len) <= BigInt(r.size)) return r.linear + Number(g - r.base);
    }
    return undefined;
  }

  /** True when [gpa, gpa+len) is guest RAM. */
  contains(gpa: bigint | number, len = 1): boolean {
    return this.linearOf(gpa, len) !== undefined;
  }

  private at(gpa: bigint | number, len: number): number {
    if (!Number.isInteger(len) || len < 0) throw new VtdArgumentError(`length must be a non-negative integer, got ${len}`);
    const p = this.linearOf(gpa, len);
    if (p === undefined) throw new VtdMemoryError(`guest-physical [0x${toGpa(gpa).toString(16)}, +${len}) is not inside one RAM region`);
    return p;
  }

  read(gpa: bigint | number, len: number): Uint8Array {
    const p = this.at(gpa, len);
    return this.u8.slice(p, p + len);
  }

  write(gpa: bigint | number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new VtdArgumentError('bytes must be a Uint8Array');
    const p = this.at(gpa, bytes.length);
    this.u8.set(bytes, p);
  }

  fill(gpa: bigint | number, len: number, byte = 0): void {
    const p = this.at(gpa, len);
    this.u8.fill(byte, p, p + len);
  }

  /**
   * A zero-copy view of guest RAM for device models and bulk loads. It stays valid until the
   * linear memory grows (creating a batch can grow it); take a new view after that.
   */
  view(gpa: bigint | number, len: number): Uint8Array {
    const p = this.at(gpa, len);
    return this.u8.subarray(p, p + len);
  }

  readU64(gpa: bigint | number): bigint {
    const p = this.at(gpa, 8);
    void this.u8;
    return this.dv.getBigUint64(p, true);
  }

  writeU64(gpa: bigint | number, value: bigint): void {
    if (typeof value !== 'bigint') throw new VtdArgumentError('value must be a bigint');
    const p = this.at(gpa, 8);
    void this.u8;
    this.dv.setBigUint64(p, BigInt.asUintN(64, value), true);
  }

  readU32(gpa: bigint | number): number {
    const p = this.at(gpa, 4);
    void this.u8;
    return this.dv.getUint32(p, true);
  }

  writeU32(gpa: bigint | number, value: number): void {
    const p = this.at(gpa, 4);
    void this.u8;
    this.dv.setUint32(p, value >>> 0, true);
  }
}
