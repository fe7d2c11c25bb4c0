/** Guest-physical memory as the reference walker sees it. */

export interface RefMemory {
  /** Little-endian 64-bit read; undefined when the 8 bytes are not inside RAM. */
  read64(gpa: bigint): bigint | undefined;
  /** Little-endian 64-bit write (only ever to a place a read64 just succeeded on). */
  write64(gpa: bigint, value: bigint): void;
  /**
   * Optional: whether [gpa, gpa+bytes) lies inside a single RAM region. The contract makes an
   * entry read fault when "the entry's whole span" is not inside one region; without this
   * method the walker can only check that every qword of the entry is readable.
   */
  spanInside?(gpa: bigint, bytes: number): boolean;
}

export interface Region {
  base: bigint;
  bytes: Uint8Array;
}

/** RAM made of disjoint regions; an access is valid only if wholly inside one region. */
export class RegionMemory implements RefMemory {
  private readonly regions: { base: bigint; end: bigint; view: DataView }[];

  constructor(regions: readonly Region[]) {
    this.regions = regions.map((r) => ({
      base: r.base,
      end: r.base + BigInt(r.bytes.length),
      view: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
    }));
  }

  private find(gpa: bigint, bytes: number) {
    if (gpa < 0n) return undefined;
    const end = gpa + BigInt(bytes);
    return this.regions.find((r) => gpa >= r.base && end <= r.end);
  }

  spanInside(gpa: bigint, bytes: number): boolean {
    return this.find(gpa, bytes) !== undefined;
  }

  read64(gpa: bigint): bigint | undefined {
    const r = this.find(gpa, 8);
    return r?.view.getBigUint64(Number(gpa - r.base), true);
  }

  write64(gpa: bigint, value: bigint): void {
    const r = this.find(gpa, 8);
    if (!r) throw new RangeError(`write64 outside RAM at 0x${gpa.toString(16)}`);
    r.view.setBigUint64(Number(gpa - r.base), BigInt.asUintN(64, value), true);
  }
}
