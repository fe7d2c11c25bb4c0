/**
 * A scripted guest driver: it programs the unit only through its registers (vtd.mmio) and
 * its own RAM (tables, the invalidation queue, status words), the way Linux's intel-iommu
 * driver or a QEMU qtest driver does. Descriptors are encoded with src/spec/descriptors.ts.
 */
import {
  encodeContextCacheInv, encodeDeviceTlbInv, encodeIecInv, encodeIotlbInv, encodePasidCacheInv, encodePasidDeviceTlbInv,
  encodePasidIotlbInv, encodeWaitDesc, type ContextCacheInv, type DescriptorQwords, type DeviceTlbInv, type IotlbInv,
  type PasidCacheInv, type PasidDeviceTlbInv, type PasidIotlbInv,
} from '../../src/spec/descriptors.js';
import {
  CapField, Ccmd, EcapField, EventCtl, Fsts, Gcmd, Gsts, Iqa, IotlbReg, Reg, Ttm,
} from '../../src/spec/registers.js';
import { GuestPageAllocator, Vtd, type VtdOptions } from '../../src/index.js';

export const STATUS_DONE = 0x600d_f00d;

export interface Interrupt {
  address: bigint;
  data: number;
}

/** A unit plus an interrupt log and a trace log. */
export async function createUnit(options: VtdOptions = {}): Promise<{ vtd: Vtd; irqs: Interrupt[]; traces: { name: string; args: Record<string, unknown> }[] }> {
  const irqs: Interrupt[] = [];
  const traces: { name: string; args: Record<string, unknown> }[] = [];
  const vtd = await Vtd.create({
    memory: { size: 32 << 20 },
    ...options,
    onInterrupt: (address, data) => irqs.push({ address, data }),
    onTrace: (name, args) => traces.push({ name, args: { ...args } }),
  });
  return { vtd, irqs, traces };
}

const bitOf = (v: bigint, shift: number): boolean => ((v >> BigInt(shift)) & 1n) === 1n;

export class GuestDriver {
  readonly cap: bigint;
  readonly ecap: bigint;
  /** The driver's copy of the persistent GCMD bits (Linux: iommu->gcmd). */
  private gcmd = 0;
  queue?: { base: bigint; wide: boolean; entries: number; tail: number };
  private status?: bigint;
  private seq = 0;

  constructor(readonly vtd: Vtd, readonly alloc: GuestPageAllocator) {
    this.cap = this.rd64(Reg.CAP);
    this.ecap = this.rd64(Reg.ECAP);
  }

  rd32(off: number): number {
    return Number(this.vtd.mmio.read(off, 4));
  }
  rd64(off: number): bigint {
    return this.vtd.mmio.read(off, 8);
  }
  wr32(off: number, v: number): void {
    this.vtd.mmio.write(off, 4, v >>> 0);
  }
  wr64(off: number, v: bigint): void {
    this.vtd.mmio.write(off, 8, v);
  }

  get scalable(): boolean {
    return bitOf(this.ecap, EcapField.SMTS);
  }
  get iotlbRegOffset(): number {
    return Number((this.ecap >> BigInt(EcapField.IRO)) & 0x3ffn) * 16;
  }
  get faultRegOffset(): number {
    return Number((this.cap >> BigInt(CapField.FRO)) & 0x3ffn) * 16;
  }
  get faultRecords(): number {
    return Number((this.cap >> BigInt(CapField.NFR)) & 0xffn) + 1;
  }

  /** Linux's iommu_set_root_entry: RTADDR (with TTM), then SRTP and wait for RTPS. */
  setRootTable(rta: bigint, scalable: boolean): void {
    this.wr64(Reg.RTADDR, rta | (BigInt(scalable ? Ttm.SCALABLE : Ttm.LEGACY) << 10n));
    this.wr32(Reg.GCMD, this.gcmd | Gcmd.SRTP);
    if ((this.rd32(Reg.GSTS) & Gsts.RTPS) === 0) throw new Error('RTPS did not set');
  }

  enableTranslation(on = true): void {
    this.command(Gcmd.TE, Gsts.TES, on);
  }

  /** Linux's __dmar_enable_qi: IQT = 0, IQA (DW and QS = 1 with SMTS), QIE, wait for QIES. */
  enableQueue(opts: { wide?: boolean; qs?: number } = {}): void {
    const wide = opts.wide ?? this.scalable;
    const qs = opts.qs ?? (wide ? 1 : 0);
    const base = this.alloc.alloc(1 << qs, 1 << qs);
    this.status ??= this.alloc.alloc();
    this.wr32(Reg.IQT, 0);
    this.wr64(Reg.IQA, base | (wide ? Iqa.DW : 0n) | BigInt(qs));
    this.queue = { base, wide, entries: (4096 << qs) / (wide ? 32 : 16), tail: 0 };
    this.command(Gcmd.QIE, Gsts.QIES, true);
  }

  disableQueue(): void {
    this.command(Gcmd.QIE, Gsts.QIES, false);
    this.queue = undefined;
  }

  /** Fault events to (addr, data), unmasked. */
  programFaultEvent(address: bigint, data: number, unmask = true): void {
    this.wr32(Reg.FEDATA, data);
    this.wr32(Reg.FEADDR, Number(address & 0xffff_ffffn));
    this.wr32(Reg.FEUADDR, Number(address >> 32n));
    this.wr32(Reg.FECTL, unmask ? 0 : EventCtl.IM);
  }

  /** Invalidation completion events to (addr, data), unmasked. */
  programCompletionEvent(address: bigint, data: number, unmask = true): void {
    this.wr32(Reg.IEDATA, data);
    this.wr32(Reg.IEADDR, Number(address & 0xffff_ffffn));
    this.wr32(Reg.IEUADDR, Number(address >> 32n));
    this.wr32(Reg.IECTL, unmask ? 0 : EventCtl.IM);
  }

  /** Write descriptors at the tail (without moving IQT); returns the new tail index. */
  post(descs: readonly DescriptorQwords[]): number {
    const q = this.requireQueue();
    const size = q.wide ? 32 : 16;
    for (const d of descs) {
      const at = q.base + BigInt(q.tail * size);
      for (let i = 0; i < size / 8; i++) this.vtd.memory.writeU64(at + BigInt(8 * i), d[i]!);
      q.tail = (q.tail + 1) % q.entries;
    }
    return q.tail;
  }

  /** Move IQT to the driver's tail. */
  ringTail(): void {
    const q = this.requireQueue();
    this.wr64(Reg.IQT, BigInt(q.tail * (q.wide ? 32 : 16)));
  }

  /**
   * Linux's qi_submit_sync: the descriptors, then a wait descriptor with a status write; ring
   * the tail; the status word must read "done" (everything completes before the write returns).
   * Returns false (and leaves the queue as it is) when the unit reported an invalidation queue error.
   */
  submit(...descs: DescriptorQwords[]): boolean {
    const status = this.status!;
    const token = (STATUS_DONE + ++this.seq) >>> 0;
    this.vtd.memory.writeU32(status, 0);
    this.post([...descs, encodeWaitDesc({ statusWrite: { address: status, data: token } })]);
    this.ringTail();
    if ((this.rd32(Reg.FSTS) & Fsts.IQE) !== 0) return false;
    if (this.vtd.memory.readU32(status) !== token) throw new Error('wait descriptor did not complete');
    return true;
  }

  // Invalidation helpers, named after the Linux driver's flush callbacks.
  contextCache(f: ContextCacheInv): boolean {
    return this.submit(encodeContextCacheInv(f));
  }
  iotlb(f: IotlbInv): boolean {
    return this.submit(encodeIotlbInv(f));
  }
  deviceTlb(f: DeviceTlbInv): boolean {
    return this.submit(encodeDeviceTlbInv(f));
  }
  iec(): boolean {
    return this.submit(encodeIecInv({ granularity: 'global' }));
  }
  pasidIotlb(f: PasidIotlbInv): boolean {
    return this.submit(encodePasidIotlbInv(f));
  }
  pasidCache(f: PasidCacheInv): boolean {
    return this.submit(encodePasidCacheInv(f));
  }
  pasidDeviceTlb(f: PasidDeviceTlbInv): boolean {
    return this.submit(encodePasidDeviceTlbInv(f));
  }

  /** Register-based context-cache invalidation (CCMD); returns CAIG. */
  ccmd(granularity: 1 | 2 | 3, did = 0, sid = 0, fm = 0): number {
    const v = Ccmd.ICC | (BigInt(granularity) << Ccmd.CIRG_SHIFT) | (BigInt(fm) << Ccmd.FM_SHIFT) |
      (BigInt(sid) << Ccmd.SID_SHIFT) | BigInt(did);
    this.wr64(Reg.CCMD, v);
    const r = this.rd64(Reg.CCMD);
    if (r & Ccmd.ICC) return -1;
    return Number((r & Ccmd.CAIG) >> Ccmd.CAIG_SHIFT);
  }

  /** Register-based IOTLB invalidation (IVA + IOTLB_REG); returns IAIG. */
  iotlbRegister(granularity: 1 | 2 | 3, did = 0, addr = 0n, am = 0): number {
    const iro = this.iotlbRegOffset;
    if (granularity === 3) this.wr64(iro, addr | BigInt(am));
    this.wr64(iro + 8, IotlbReg.IVT | (BigInt(granularity) << IotlbReg.IIRG_SHIFT) | (BigInt(did) << IotlbReg.DID_SHIFT));
    const r = this.rd64(iro + 8);
    if (r & IotlbReg.IVT) return -1;
    return Number((r & IotlbReg.IAIG) >> IotlbReg.IAIG_SHIFT);
  }

  /** Persistent GCMD bit: set/clear in the driver copy, write, wait for the status bit. */
  private command(bit: number, status: number, on: boolean): void {
    this.gcmd = on ? (this.gcmd | bit) >>> 0 : (this.gcmd & ~bit) >>> 0;
    this.wr32(Reg.GCMD, this.gcmd);
    if (((this.rd32(Reg.GSTS) & status) !== 0) !== on) throw new Error(`GSTS did not follow GCMD 0x${bit.toString(16)}`);
  }

  private requireQueue() {
    if (!this.queue) throw new Error('queued invalidation is not enabled');
    return this.queue;
  }
}
