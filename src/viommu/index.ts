/**
 * The vIOMMU as a guest sees it: the VT-d register file behind an MMIO-style interface
 * (`vtd.mmio.read` / `vtd.mmio.write`), queued invalidation, fault recording and event
 * interrupts. It drives the translation unit (Vtd) the way hardware would: SRTP latches the
 * root table, TE turns remapping on, invalidations remove cached entries, and faults of DMA
 * requests land in the fault-recording registers.
 */
import type { TranslationBatch } from '../batch.js';
import { VtdArgumentError } from '../errors.js';
import { Fsts, Frcd, frcdOffset, Gsts, MAX_FAULT_RECORDS, Reg, registerFileSize, registerLayout, Rtaddr } from '../spec/registers.js';
import { Tracer } from '../trace.js';
import type { TranslateRequest } from '../types.js';
import { runHook, type InterruptFn, type TraceFn, type UnitContext, type ViommuHooks, type VtdLink } from './context.js';
import { Events } from './events.js';
import { FaultRecorder, type VtdFaultRecord } from './fault-recording.js';
import { InvalidationQueue } from './invalidation-queue.js';
import { RegisterFile } from './register-file.js';
import { RegisterModel } from './registers.js';

export type {
  ContextInvalidation, DeviceTlbInvalidation, InterruptFn, IotlbInvalidation, PasidCacheInvalidation, PasidIotlbInvalidation,
  TraceFn, TranslationChange, ViommuHooks, VtdLink,
} from './context.js';
export { QUALIFIED_FAULTS, type VtdFaultRecord } from './fault-recording.js';

export interface ViommuOptions {
  /** Interrupt messages the unit sends: fault events and invalidation completion events. */
  onInterrupt?: InterruptFn;
  /** Notable events (writes to unimplemented offsets, descriptors, faults, ...), named after QEMU's trace events. */
  onTrace?: TraceFn;
  /** Where trace events go (onTrace, if given, is added to it as a listener). Default: a tracer of its own. */
  tracer?: Tracer;
  /** Fault-recording registers (CAP.NFR + 1), 1..256; default 8. */
  faultRecords?: number;
}

export const DEFAULT_FAULT_RECORDS = 8;

const U64 = (1n << 64n) - 1n;

/** The register interface of one unit: `vtd.mmio`. */
export class Viommu {
  /** Bytes of the register window (offsets 0 .. size - 1). */
  readonly size: number;
  /** Extension points called after the unit's own work (see ViommuHooks). */
  hooks: ViommuHooks = {};
  /** The unit's own extensions (the host bind path); see UnitContext.internalHooks. */
  private internalHooks: ViommuHooks = {};
  private readonly regs: RegisterFile;
  private readonly recorder: FaultRecorder;
  private readonly model: RegisterModel;
  private readonly queue: InvalidationQueue;
  /** Where this unit's trace events go. */
  readonly tracer: Tracer;

  /** @internal Created by Vtd. */
  constructor(vtd: VtdLink, options: ViommuOptions = {}) {
    const n = options.faultRecords ?? DEFAULT_FAULT_RECORDS;
    if (!Number.isInteger(n) || n < 1 || n > MAX_FAULT_RECORDS) {
      throw new VtdArgumentError(`faultRecords must be an integer in [1, ${MAX_FAULT_RECORDS}], got ${String(n)}`);
    }
    this.size = registerFileSize(n);
    this.regs = new RegisterFile(registerLayout({ caps: vtd.caps, faultRecords: n }), this.size);
    const tracer = options.tracer ?? new Tracer();
    if (options.onTrace !== undefined) tracer.on('trace', options.onTrace);
    this.tracer = tracer;
    const onInterrupt = options.onInterrupt;
    const self = this;
    const ctx: UnitContext = {
      vtd,
      regs: this.regs,
      get hooks() {
        return self.hooks;
      },
      get internalHooks() {
        return self.internalHooks;
      },
      get tracing() {
        return tracer.active;
      },
      trace: (name, args) => tracer.emit(name, args),
      interrupt: onInterrupt ? (a, d) => onInterrupt(a, d) : () => {},
    };
    const events = new Events(ctx);
    this.recorder = new FaultRecorder(ctx, events, n);
    this.queue = new InvalidationQueue(ctx, events);
    this.model = new RegisterModel(ctx, events, this.recorder, this.queue);
    this.trace = ctx.trace;
  }

  /** @internal The unit's own hooks (the host bind path), run before `hooks`. */
  setInternalHooks(hooks: ViommuHooks): void {
    this.internalHooks = hooks;
  }

  /**
   * @internal System reset of the register model (Vtd.reset): every register to its reset
   * value, queued invalidation off, fault-recording state cleared.
   */
  reset(): void {
    this.regs.reset();
    this.queue.reset();
    this.recorder.reset();
    this.model.latched = undefined;
    this.trace('vtd_reset_exit', {});
  }

  private readonly trace: TraceFn;

  /** Read `size` (4 or 8) bytes at `offset` (naturally aligned). Unimplemented offsets read 0. */
  read(offset: number, size: number): bigint {
    this.checkAccess(offset, size);
    return this.regs.read(offset, size as 4 | 8);
  }

  /**
   * Write `size` (4 or 8) bytes at `offset` (naturally aligned), with the side effects the
   * register has. Read-only and reserved bits keep their value, RW1C bits clear where the
   * value has a 1; writes to unimplemented offsets are ignored (and traced).
   */
  write(offset: number, size: number, value: bigint | number): void {
    this.checkAccess(offset, size);
    const v = this.checkValue(value, size);
    const touched = this.regs.write(offset, size as 4 | 8, v);
    if (touched.length === 0) {
      this.trace('vtd_reg_write_unimplemented', { offset, size, value: v });
      return;
    }
    for (const t of touched) this.model.written(t);
  }

  /**
   * The pending fault records (FRCD with F set), oldest first. With `clear`, they are then
   * serviced as a driver would: F bits and FSTS.PFO written back.
   */
  faults(options: { clear?: boolean } = {}): VtdFaultRecord[] {
    const recs = this.recorder.records();
    if (options.clear) {
      for (const r of recs) this.write(frcdOffset(r.index) + 12, 4, Number(Frcd.F >> 32n));
      if ((this.regs.get32(Reg.FSTS) & Fsts.PFO) !== 0) this.write(Reg.FSTS, 4, Fsts.PFO);
    }
    return recs;
  }

  /** @internal A faulted DMA request (Vtd.translate). */
  recordFault(req: TranslateRequest, reason: number, fpd: boolean): void {
    this.recorder.record({
      sid: req.sid, pasid: req.pasid, iova: req.iova, write: !!req.write, exec: !!req.exec, priv: !!req.priv, reason, fpd,
    });
  }

  /** @internal The faults of a translated batch (Vtd.translateBatch). */
  recordBatchFaults(batch: TranslationBatch, faults: number): void {
    if (!this.recorder.blocked) this.recorder.recordBatch(batch, faults);
  }

  /** @internal The embedder called vtd.setRootTable / disableTranslation: registers follow. */
  apiTranslationChanged(root: { address: bigint; ttm: number } | undefined, enabled: boolean): void {
    const r = this.regs;
    if (root !== undefined) {
      r.set64(Reg.RTADDR, root.address | (BigInt(root.ttm) << Rtaddr.TTM_SHIFT));
      r.set32(Reg.GSTS, r.get32(Reg.GSTS) | Gsts.RTPS);
      this.model.latched = root;
    }
    const was = (r.get32(Reg.GSTS) & Gsts.TES) !== 0;
    if (was !== enabled) this.recorder.resetIndex();
    r.set32(Reg.GSTS, enabled ? r.get32(Reg.GSTS) | Gsts.TES : r.get32(Reg.GSTS) & ~Gsts.TES);
    // The unit's own extensions follow API changes too (the embedder's hooks see only register writes).
    const rtaddr = r.get64(Reg.RTADDR);
    const e = runHook(this.internalHooks, 'translationChanged', {
      cause: root !== undefined ? 'srtp' : 'te',
      enabled,
      rootTable: root ?? this.model.latched ?? { address: rtaddr & Rtaddr.RTA, ttm: Number((rtaddr & Rtaddr.TTM) >> Rtaddr.TTM_SHIFT) },
    });
    if (e) this.trace('vtd_hook_error', { message: e.message });
  }

  private checkAccess(offset: number, size: number): void {
    if (size !== 4 && size !== 8) throw new VtdArgumentError(`register access size must be 4 or 8 bytes, got ${String(size)}`);
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.size) {
      throw new VtdArgumentError(`register offset must be an integer in [0, 0x${(this.size - size).toString(16)}], got ${String(offset)}`);
    }
    if (offset % size !== 0) throw new VtdArgumentError(`a ${size}-byte register access must be ${size}-byte aligned, got offset 0x${offset.toString(16)}`);
  }

  private checkValue(value: bigint | number, size: number): bigint {
    const max = size === 8 ? U64 : 0xffff_ffffn;
    let v: bigint;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) throw new VtdArgumentError(`register value must be a non-negative safe integer or a bigint, got ${value}`);
      v = BigInt(value);
    } else if (typeof value === 'bigint') {
      v = value;
    } else {
      throw new VtdArgumentError('register value must be a bigint or a number');
    }
    if (v < 0n || v > max) throw new VtdArgumentError(`register value 0x${v.toString(16)} does not fit in ${size} bytes`);
    return v;
  }
}
