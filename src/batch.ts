/**
 * A batch of translation requests and results as typed-array views into the core's linear
 * memory (struct of arrays). Fill the inputs, call `vtd.translateBatch(batch, n)`, read the
 * outputs: no per-request call, no BigInt boxing inside the core.
 */
import type { CoreExports } from './wasm/core.js';

/** `batch.pasid` value of a request without PASID. */
export const NO_PASID = 0xffff_ffff;

/** Bits of `batch.flags`. */
export const BatchFlag = { WRITE: 1, EXEC: 2, PRIV: 4 } as const;

export class TranslationBatch {
  private buf: ArrayBuffer | SharedArrayBuffer;
  private views!: {
    sid: Uint16Array;
    pasid: Uint32Array;
    iova: BigUint64Array;
    flags: Uint8Array;
    address: BigUint64Array;
    fault: Uint8Array;
    info: Uint8Array;
    list: Uint32Array;
  };

  /** @internal Created by Vtd.createBatch. */
  constructor(
    /** @internal */ readonly core: CoreExports,
    readonly capacity: number,
    /** @internal */ readonly ptrs: {
      sid: number; pasid: number; iova: number; flags: number; address: number; fault: number; info: number; list: number;
    },
  ) {
    this.buf = core.memory.buffer;
    this.remap();
  }

  private remap(): void {
    const b = this.core.memory.buffer;
    const n = this.capacity;
    this.buf = b;
    this.views = {
      sid: new Uint16Array(b, this.ptrs.sid, n),
      pasid: new Uint32Array(b, this.ptrs.pasid, n),
      iova: new BigUint64Array(b, this.ptrs.iova, n),
      flags: new Uint8Array(b, this.ptrs.flags, n),
      address: new BigUint64Array(b, this.ptrs.address, n),
      fault: new Uint8Array(b, this.ptrs.fault, n),
      info: new Uint8Array(b, this.ptrs.info, n),
      list: new Uint32Array(b, this.ptrs.list, n),
    };
  }

  private get v() {
    if (this.buf !== this.core.memory.buffer) this.remap();
    return this.views;
  }

  /** Source-ids (bus << 8 | devfn). */
  get sid(): Uint16Array { return this.v.sid; }
  /** PASIDs; NO_PASID (0xffffffff) for a request without PASID. */
  get pasid(): Uint32Array { return this.v.pasid; }
  /** Input addresses. */
  get iova(): BigUint64Array { return this.v.iova; }
  /** Bit 0 write, bit 1 execute, bit 2 privileged. */
  get flags(): Uint8Array { return this.v.flags; }
  /** Output addresses (0 where the request faulted). */
  get address(): BigUint64Array { return this.v.address; }
  /** Fault reasons (0 = translated). */
  get fault(): Uint8Array { return this.v.fault; }
  /** For faulted requests: the fault level in bits 2:0, and bit 7 set when fault processing is disabled (FPD). */
  get faultInfo(): Uint8Array { return this.v.info; }
  /**
   * The indices of the requests that faulted, in order: the first N entries are valid, N being
   * what the last `translateBatch` returned. Lets a caller visit the faults of a large batch
   * without scanning `fault`.
   */
  get faultIndex(): Uint32Array { return this.v.list; }
}
