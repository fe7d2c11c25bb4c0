/**
 * Vtd: one emulated VT-d unit in scalable mode over its own guest RAM. This is the translation
 * core's public face; the register/QI model builds on it.
 */
import { TranslationBatch, NO_PASID } from './batch.js';
import { Caches, type CacheOptions } from './caches.js';
import { VtdArgumentError } from './errors.js';
import { GuestMemory, toGpa, type RegionSpec } from './memory/guest-memory.js';
import { capFlags, resolveCaps, type Caps } from './spec/caps.js';
import { FaultReason, faultName } from './spec/faults.js';
import { Ttm } from './spec/registers.js';
import { Tracer, type VtdEventMap, type VtdEventName } from './trace.js';
import type { FirstStageWalkRequest, TranslateRequest, TranslateResult } from './types.js';
import { HostBinding, type HostDevice, type HostDeviceOptions } from './viommu/host/index.js';
import { Viommu, type InterruptFn, type TraceFn, type VtdFaultRecord } from './viommu/index.js';
import type { Region } from './memory/guest-memory.js';
import { loadCore, type CoreExports, type WasmSource } from './wasm/core.js';
import { LinearAllocator } from './wasm/linear.js';

export interface VtdOptions {
  /** Guest RAM: one region of `size` bytes at GPA 0 (default 256 MiB), or explicit regions. */
  memory?: { size?: number | bigint; regions?: RegionSpec[] };
  /** Capabilities (CAP/ECAP fields); defaults: scalable mode with first stage, second stage and pass-through. */
  caps?: Partial<Caps>;
  /** Cache sizes (context, PASID, IOTLB), or `false` to walk every request. */
  caches?: CacheOptions;
  /** Where to load vtd-core.wasm from (default: next to this module). */
  wasm?: WasmSource;
  /**
   * Interrupt messages of the register model: fault events (FECTL/FEDATA/FEADDR/FEUADDR) and
   * invalidation completion events (IECTL/IEDATA/IEADDR/IEUADDR). `address` is the 64-bit
   * message address (upper:lower register), `data` the message data.
   */
  onInterrupt?: InterruptFn;
  /** Trace hook for notable events (writes to unimplemented registers, descriptors, faults); same as `vtd.on('trace', fn)`. */
  onTrace?: TraceFn;
  /** A tracer to emit into (e.g. one shared by several units); default: one of the unit's own. */
  tracer?: Tracer;
  /**
   * Host address of a guest RAM region, as the host devices' stage-2 IOASes map it
   * (IOMMU_IOAS_MAP's user address). Default: where the region lives in the WASM linear memory.
   */
  ramHostAddress?: (region: Region) => bigint;
  /** Fault-recording registers (CAP.NFR + 1), 1..256; default 8. */
  faultRecords?: number;
}

const DEFAULT_RAM = 256 * 1024 * 1024;
const U64 = (1n << 64n) - 1n;

// Walk-flag bits of the core's firstStageWalk (assembly/first-stage.ts W_*).
const W_WRITE = 1, W_EXEC = 2, W_PRIV = 4, W_WPE = 8, W_EAFE = 16, W_SRE = 32, W_ERE = 64;

function checkIova(iova: unknown): bigint {
  if (typeof iova !== 'bigint' || iova < 0n || iova > U64) throw new VtdArgumentError('iova must be a 64-bit unsigned bigint');
  return iova;
}

export class Vtd {
  readonly memory: GuestMemory;
  readonly caps: Readonly<Caps>;
  /** The context cache, PASID cache and IOTLB, and their invalidations. */
  readonly caches: Caches;
  private readonly alloc: LinearAllocator;
  private readonly result: { u32: Uint32Array; buf: ArrayBuffer | SharedArrayBuffer; ptr: number };
  private rootTable: { address: bigint; scalable: boolean } | undefined;
  /** Translation enable (GSTS.TES) and the root table latched by SRTP (RTADDR with its TTM). */
  private te = false;
  private latched: { address: bigint; ttm: number } = { address: 0n, ttm: Ttm.LEGACY };
  /** TE is on with a TTM the unit does not support: every request faults 0x30. */
  private rootInvalid = false;
  /**
   * The register file as a guest driver sees it (`read(offset, size)`, `write(offset, size,
   * value)`), with queued invalidation, fault recording and event interrupts.
   */
  readonly mmio: Viommu;
  private readonly tracer: Tracer;
  private hostBinding: HostBinding | undefined;
  private readonly ramHostAddress: ((region: Region) => bigint) | undefined;

  private constructor(
    private readonly core: CoreExports, caps: Caps, regions: RegionSpec[], caches: CacheOptions | undefined, options: VtdOptions,
  ) {
    this.caps = Object.freeze(caps);
    core.configure(capFlags(caps), caps.sagaw, caps.mgaw, caps.haw);
    this.alloc = new LinearAllocator(core.memory, core.heapBase());
    this.caches = new Caches(core, this.alloc, caches);
    this.memory = new GuestMemory(core, this.alloc, regions);
    const ptr = core.resultPtr();
    this.result = { ptr, buf: core.memory.buffer, u32: new Uint32Array(core.memory.buffer, ptr, 7) };
    this.tracer = options.tracer ?? new Tracer();
    if (options.onTrace !== undefined) this.tracer.on('trace', options.onTrace);
    this.ramHostAddress = options.ramHostAddress;
    this.mmio = new Viommu(this, { onInterrupt: options.onInterrupt, tracer: this.tracer, faultRecords: options.faultRecords });
  }

  /** Listen to the unit's events: `vtd.on('trace', (name, args) => ...)` (names as QEMU's trace events). */
  on<K extends VtdEventName>(event: K, listener: VtdEventMap[K]): this {
    this.tracer.on(event, listener);
    return this;
  }

  /** Remove a listener added with `on`. */
  off<K extends VtdEventName>(event: K, listener: VtdEventMap[K]): this {
    this.tracer.off(event, listener);
    return this;
  }

  /**
   * The host bind path: passthrough devices, the guest RAM their stage 2 maps, and the
   * sync of the guest's PASID tables onto their host IOMMU (src/viommu/host/README.md).
   */
  get host(): HostBinding {
    if (this.hostBinding === undefined) {
      const binding = new HostBinding(this, { trace: (n, a) => this.tracer.emit(n, a), ramHostAddress: this.ramHostAddress });
      this.mmio.setInternalHooks(binding.hooks);
      this.hostBinding = binding;
    }
    return this.hostBinding;
  }

  /**
   * Register a passthrough device with its iommufd-type backend (throws HostDeviceError when
   * the vIOMMU or the host cannot bind it). From then on the guest's PASID entries for it are
   * mirrored on the host: first-stage tables as nested HWPTs over its stage 2, pass-through as
   * the stage 2 itself.
   */
  addHostDevice(options: HostDeviceOptions): HostDevice {
    return this.host.addDevice(options);
  }

  /** Unregister a host device (detached, its HWPTs freed). */
  removeHostDevice(device: HostDevice | { bus: number; devfn: number }): void {
    this.host.removeDevice(device);
  }

  /** The registered host devices. */
  hostDevices(): HostDevice[] {
    return this.hostBinding?.devices() ?? [];
  }

  /**
   * System reset: registers to their reset values, queued invalidation and translation off,
   * every cache dropped, fault records cleared; host devices lose their bindings and go back
   * to their default stage 2. Guest memory is left as it is.
   */
  reset(): void {
    this.te = false;
    this.latched = { address: 0n, ttm: Ttm.LEGACY };
    this.applyTranslation();
    this.mmio.reset();
    const e = this.hostBinding?.reset();
    if (e) this.tracer.emit('vtd_hook_error', { message: e.message });
  }

  static async create(options: VtdOptions = {}): Promise<Vtd> {
    const caps = resolveCaps(options.caps);
    const mem = options.memory ?? {};
    if (mem.regions !== undefined && mem.size !== undefined) {
      throw new VtdArgumentError('give memory.size or memory.regions, not both');
    }
    const regions = mem.regions ?? [{ base: 0n, size: mem.size ?? DEFAULT_RAM }];
    const fr = options.faultRecords;
    if (fr !== undefined && (!Number.isInteger(fr) || fr < 1 || fr > 256)) {
      throw new VtdArgumentError(`faultRecords must be an integer in [1, 256], got ${String(fr)}`);
    }
    for (const k of ['onInterrupt', 'onTrace'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'function') throw new VtdArgumentError(`${k} must be a function`);
    }
    const core = await loadCore(options.wasm);
    return new Vtd(core, caps, regions, options.caches, options);
  }

  /**
   * Program the root table as a guest driver does: RTADDR (with TTM), SRTP, then TE.
   * `scalable` defaults to the unit's scalable-mode support (caps.smts). Like SRTP, it drops
   * every cached entry.
   */
  setRootTable(gpa: bigint, options: { scalable?: boolean } = {}): void {
    const address = toGpa(gpa, 'root table address');
    if (address & 0xfffn) throw new VtdArgumentError('root table address must be 4 KiB aligned');
    const scalable = options.scalable ?? this.caps.smts;
    if (scalable && !this.caps.smts) throw new VtdArgumentError('scalable-mode root table needs caps.smts');
    this.latched = { address, ttm: scalable ? Ttm.SCALABLE : Ttm.LEGACY };
    this.te = true;
    this.applyTranslation();
    this.mmio.apiTranslationChanged(this.latched, true);
  }

  /** Turn DMA remapping off (GCMD.TE = 0): requests pass untranslated; caches are dropped. */
  disableTranslation(): void {
    this.te = false;
    this.applyTranslation();
    this.mmio.apiTranslationChanged(undefined, false);
  }

  /** @internal SRTP: latch the root-table address and TTM (RTADDR); drops every cached entry. */
  latchRootTable(address: bigint, ttm: number): void {
    this.latched = { address: address & ~0xfffn, ttm };
    this.applyTranslation();
  }

  /** @internal GCMD.TE: translation on or off with the latched root table; drops every cached entry. */
  setTranslationEnabled(on: boolean): void {
    this.te = on;
    this.applyTranslation();
  }

  /** @internal Whether DMA remapping is enabled (GSTS.TES). */
  get translationEnabled(): boolean {
    return this.te;
  }

  private applyTranslation(): void {
    const { address, ttm } = this.latched;
    const valid = ttm === Ttm.LEGACY || (ttm === Ttm.SCALABLE && this.caps.smts);
    const scalable = ttm === Ttm.SCALABLE;
    const on = this.te && valid;
    this.rootInvalid = this.te && !valid;
    this.core.setRootTable(Number(address & 0xffff_ffffn), Number(address >> 32n), scalable ? 1 : 0, on ? 1 : 0);
    this.core.flushCaches();
    this.caches.scalableMode = scalable;
    this.rootTable = on ? { address, scalable } : undefined;
  }

  /**
   * The faults recorded in the fault-recording registers (pending records, oldest first), for
   * embedders that do not parse FRCD. With `clear`, they are serviced afterwards (F and PFO
   * cleared), as a driver's fault handler does.
   */
  faults(options: { clear?: boolean } = {}): VtdFaultRecord[] {
    return this.mmio.faults(options);
  }

  /** The programmed root table, or undefined while translation is disabled. */
  get root(): { address: bigint; scalable: boolean } | undefined {
    return this.rootTable;
  }

  private get out(): Uint32Array {
    if (this.result.buf !== this.core.memory.buffer) {
      this.result.buf = this.core.memory.buffer;
      this.result.u32 = new Uint32Array(this.result.buf, this.result.ptr, 7);
    }
    return this.result.u32;
  }

  private readResult(reason: number): TranslateResult {
    const o = this.out;
    if (reason !== 0) {
      const level = o[4]!;
      return { ok: false, fault: level ? { reason, name: faultName(reason), level } : { reason, name: faultName(reason) } };
    }
    const perm = o[3]!;
    return {
      ok: true,
      address: (BigInt(o[1]!) << 32n) | BigInt(o[0]!),
      pageSize: 2 ** o[2]!,
      read: (perm & 1) !== 0,
      write: (perm & 2) !== 0,
      exec: (perm & 4) !== 0,
    };
  }

  /**
   * Translate one DMA request as the hardware would. Faults are results, not exceptions; they
   * are also recorded in the fault-recording registers (unless FPD suppresses them).
   */
  translate(req: TranslateRequest): TranslateResult {
    const d = this.translateDetailed(req);
    if (!d.result.ok) this.mmio.recordFault(req, d.result.fault.reason, d.fpd);
    return d.result;
  }

  /**
   * @internal translate() plus what fault recording needs: whether fault processing is disabled
   * (FPD) for the structures the request went through, and whether the IOTLB answered.
   */
  translateDetailed(req: TranslateRequest): { result: TranslateResult; fpd: boolean; iotlbHit: boolean } {
    const { sid, pasid } = req;
    if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff) throw new VtdArgumentError(`sid must be 0..0xffff, got ${sid}`);
    if (pasid !== undefined && (!Number.isInteger(pasid) || pasid < 0 || pasid > 0xfffff)) {
      throw new VtdArgumentError(`pasid must be 0..0xfffff or undefined, got ${pasid}`);
    }
    const iova = checkIova(req.iova);
    if (this.rootInvalid) {
      const reason = FaultReason.SM_RTADDR_INV;
      return { result: { ok: false, fault: { reason, name: faultName(reason) } }, fpd: false, iotlbHit: false };
    }
    const flags = (req.write ? 1 : 0) | (req.exec ? 2 : 0) | (req.priv ? 4 : 0);
    const r = this.core.translate(sid, pasid ?? NO_PASID, Number(iova & 0xffff_ffffn), Number(iova >> 32n), flags);
    const bits = this.out[6]!;
    return { result: this.readResult(r), fpd: (bits & 1) !== 0, iotlbHit: (bits & 2) !== 0 };
  }

  /** The bare first-stage walk over guest memory (no root/context/PASID structures). */
  firstStageWalk(req: FirstStageWalkRequest): TranslateResult {
    const root = toGpa(req.root, 'root');
    if (root & 0xfffn) throw new VtdArgumentError('root must be 4 KiB aligned');
    if (req.levels !== 4 && req.levels !== 5) throw new VtdArgumentError('levels must be 4 or 5');
    if (req.levels === 5 && !this.caps.fs5lp) throw new VtdArgumentError('5-level walks need caps.fs5lp');
    const iova = checkIova(req.iova);
    const flags = (req.write ? W_WRITE : 0) | (req.exec ? W_EXEC : 0) | (req.priv ? W_PRIV : 0) | (req.wpe ? W_WPE : 0) |
      (req.eafe ? W_EAFE : 0) | (req.sre ? W_SRE : 0) | (req.ere ? W_ERE : 0);
    const r = this.core.firstStageWalk(Number(root & 0xffff_ffffn), Number(root >> 32n), req.levels,
      Number(iova & 0xffff_ffffn), Number(iova >> 32n), flags);
    return this.readResult(r);
  }

  /** A batch of `capacity` requests in linear memory (allocated once; reuse it). */
  createBatch(capacity: number): TranslationBatch {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new VtdArgumentError(`batch capacity must be 1..${1 << 24}, got ${capacity}`);
    }
    const a = this.alloc;
    const ptrs = {
      iova: a.alloc(capacity * 8, 64),
      address: a.alloc(capacity * 8, 64),
      pasid: a.alloc(capacity * 4, 64),
      sid: a.alloc(capacity * 2, 64),
      flags: a.alloc(capacity, 64),
      fault: a.alloc(capacity, 64),
      info: a.alloc(capacity, 64),
      list: a.alloc(capacity * 4, 64),
    };
    return new TranslationBatch(this.core, capacity, ptrs);
  }

  /**
   * Translate the first `count` requests of `batch`; returns how many faulted. Faults are
   * recorded in the fault-recording registers as for translate().
   */
  translateBatch(batch: TranslationBatch, count: number = batch.capacity): number {
    if (!(batch instanceof TranslationBatch) || batch.core !== this.core) {
      throw new VtdArgumentError('batch was not created by this Vtd');
    }
    if (!Number.isInteger(count) || count < 0 || count > batch.capacity) {
      throw new VtdArgumentError(`count must be 0..${batch.capacity}, got ${count}`);
    }
    let faults: number;
    if (this.rootInvalid) {
      batch.address.fill(0n, 0, count);
      batch.fault.fill(FaultReason.SM_RTADDR_INV, 0, count);
      batch.faultInfo.fill(0, 0, count);
      for (let i = 0; i < count; i++) batch.faultIndex[i] = i;
      faults = count;
    } else {
      const p = batch.ptrs;
      faults = this.core.translateBatch(count, p.sid, p.pasid, p.iova, p.flags, p.address, p.fault, p.info, p.list);
    }
    if (faults > 0) this.mmio.recordBatchFaults(batch, faults);
    return faults;
  }
}
