/**
 * Register storage with per-bit behaviour, byte-granular so that any 4- or 8-byte access works
 * on any register it overlaps (a 4-byte write to the high half of a 64-bit register, an 8-byte
 * write across GCMD and GSTS): software writes change only RW bits, clear RW1C bits written
 * with 1, and leave read-only and reserved bits alone; write-only bits read as 0. The model
 * itself updates status bits with the raw accessors.
 */
import type { RegisterDef } from '../spec/registers.js';

/** One register a software write touched. */
export interface TouchedRegister {
  def: RegisterDef;
  /** Value before and after the write (whole register). */
  old: bigint;
  value: bigint;
  /** The write covered bytes 0-3 / bytes 4-7 of the register. */
  low: boolean;
  high: boolean;
}

export class RegisterFile {
  private readonly bytes: Uint8Array;
  private readonly rw: Uint8Array;
  private readonly rw1c: Uint8Array;
  private readonly wo: Uint8Array;
  private readonly dv: DataView;
  /** The register covering each 4-byte slot. */
  private readonly slots: (RegisterDef | undefined)[];

  constructor(readonly defs: readonly RegisterDef[], readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.rw = new Uint8Array(size);
    this.rw1c = new Uint8Array(size);
    this.wo = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
    this.slots = new Array<RegisterDef | undefined>(size / 4).fill(undefined);
    for (const d of defs) {
      if (d.offset % d.size !== 0 || d.offset + d.size > size) throw new Error(`register ${d.name} misplaced`);
      for (let s = d.offset / 4; s < (d.offset + d.size) / 4; s++) {
        if (this.slots[s] !== undefined) throw new Error(`registers ${this.slots[s]!.name} and ${d.name} overlap`);
        this.slots[s] = d;
      }
      putLe(this.rw, d.offset, d.size, d.rw);
      putLe(this.rw1c, d.offset, d.size, d.rw1c);
      putLe(this.wo, d.offset, d.size, d.wo);
    }
    this.reset();
  }

  /** Every register to its reset value. */
  reset(): void {
    this.bytes.fill(0);
    for (const d of this.defs) putLe(this.bytes, d.offset, d.size, d.reset);
  }

  /** The register at `offset` (any byte inside it), if implemented. */
  registerAt(offset: number): RegisterDef | undefined {
    return this.slots[offset >> 2];
  }

  get32(off: number): number {
    return this.dv.getUint32(off, true);
  }

  set32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }

  get64(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }

  set64(off: number, v: bigint): void {
    this.dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  }

  /** Raw value of a whole register. */
  value(def: RegisterDef): bigint {
    return def.size === 8 ? this.get64(def.offset) : BigInt(this.get32(def.offset));
  }

  /** What software reads (write-only bits as 0). */
  read(offset: number, size: 4 | 8): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[offset + i]! & ~this.wo[offset + i]!);
    return v;
  }

  /** A software write; returns the registers it touched (empty: nothing implemented there). */
  write(offset: number, size: 4 | 8, value: bigint): TouchedRegister[] {
    const touched: TouchedRegister[] = [];
    for (let s = offset >> 2; s < (offset + size) >> 2; s++) {
      const def = this.slots[s];
      if (def === undefined) continue;
      let t = touched.find((x) => x.def === def);
      if (t === undefined) {
        t = { def, old: this.value(def), value: 0n, low: false, high: false };
        touched.push(t);
      }
      if ((s << 2) - def.offset < 4) t.low = true;
      else t.high = true;
    }
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const v = Number((value >> BigInt(8 * i)) & 0xffn);
      const rw = this.rw[at]!;
      this.bytes[at] = ((this.bytes[at]! & ~rw) | (v & rw)) & ~(v & this.rw1c[at]!);
    }
    for (const t of touched) t.value = this.value(t.def);
    return touched;
  }
}

function putLe(arr: Uint8Array, offset: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) arr[offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}
