/**
 * Primary fault logging (VT-d 7.2.1 / 7.3): DMA-remapping faults of translated requests go to
 * the fault-recording registers (FRCD) at CAP.FRO, one 128-bit record each, filled round-robin
 * from an internal index:
 *
 * - a qualified fault of a request whose structures set FPD is not recorded;
 * - FSTS.PFO set: nothing is recorded until software clears it;
 * - a pending record (F = 1) with the same source-id: the new fault collapses into it;
 * - the record at the index is still pending: overflow (FSTS.PFO), the fault is lost;
 * - otherwise the record is written, F set; if PPF was clear, FRI = its index, PPF set and
 *   a fault event is raised (unless other fault status was already pending).
 */
import { NO_PASID, type TranslationBatch } from '../batch.js';
import { faultName, FaultReason as FR } from '../spec/faults.js';
import { Frcd, frcdOffset, Fsts, Reg } from '../spec/registers.js';
import type { TranslateRequest } from '../types.js';
import type { UnitContext } from './context.js';
import type { Events } from './events.js';

/**
 * Faults that FPD can suppress ("qualified"). Not qualified: errors reading the root table,
 * a context table, a PASID directory or a PASID table, root-entry faults, invalid RTADDR /
 * TTM, and reserved bits in the context entry that holds the FPD (as QEMU's
 * vtd_qualified_faults, extended to the scalable-mode codes QEMU does not raise). Everything
 * found at or below a readable context entry is qualified.
 */
export const QUALIFIED_FAULTS: ReadonlySet<number> = new Set([
  // legacy mode
  FR.CONTEXT_ENTRY_P, FR.CONTEXT_ENTRY_INV, FR.ADDR_BEYOND_MGAW, FR.WRITE, FR.READ, FR.PAGING_ENTRY_INV,
  FR.PAGING_ENTRY_RSVD, FR.CONTEXT_ENTRY_TT, FR.INTERRUPT_ADDR,
  // scalable mode
  FR.SM_CONTEXT_ENTRY_P, FR.SM_CONTEXT_ENTRY_INV, FR.SM_CONTEXT_DTE, FR.SM_CONTEXT_PASIDE, FR.SM_PASID_BEYOND_PDTS,
  FR.SM_CONTEXT_PRE, FR.SM_RID_PASID_ERR, FR.SM_PASID_DIR_ENTRY_P, FR.SM_PASID_DIR_ENTRY_RSVD, FR.SM_PASID_ENTRY_P,
  FR.SM_PASID_ENTRY_RSVD, FR.SM_PASID_ENTRY_INV, FR.SM_PASID_ENTRY_ERE, FR.SM_PASID_ENTRY_SRE,
  FR.FS_ENTRY_ACCESS, FR.FS_ENTRY_P, FR.FS_ENTRY_RSVD, FR.FS_FSPTPTR_ACCESS, FR.NESTED_FS_ADDR_BEYOND_SS,
  FR.NESTED_FS_TOP_TABLE_READ, FR.NESTED_FS_TABLE_READ, FR.NESTED_FS_AD_WRITE, FR.SS_ENTRY_ACCESS, FR.SS_PERMISSION,
  FR.SS_ENTRY_RSVD, FR.SS_SSPTPTR_ACCESS, FR.SS_AD_NO_SNOOP, FR.FS_NON_CANONICAL, FR.FS_US, FR.SM_EXECUTE,
  FR.SM_ADDR_BEYOND_MAX, FR.SM_SS_OUTPUT_BEYOND_MAX, FR.SM_WRITE, FR.SM_READ, FR.SM_INTERRUPT_ADDR, FR.FS_AD_NO_SNOOP,
]);

/** A decoded fault record (FRCD register with F set). */
export interface VtdFaultRecord {
  /** Which fault-recording register holds it. */
  index: number;
  /** Source-id (bus << 8 | devfn). */
  sid: number;
  /** Fault reason (FR) and its symbolic name. */
  reason: number;
  name: string;
  /** FI: the page address of the faulted request. */
  address: bigint;
  /** PV, when the request carried a PASID (PP = 1). */
  pasid?: number;
  /** T1 clear: a write request. */
  write: boolean;
  /** EXE / PRIV (meaningful with a PASID). */
  exec: boolean;
  priv: boolean;
  /** AT: address type of the request (0: untranslated). */
  addressType: number;
}

/** A fault as the translation path reports it. */
export interface DmaFault {
  sid: number;
  pasid: number | undefined;
  iova: bigint;
  write: boolean;
  exec: boolean;
  priv: boolean;
  reason: number;
  /** Fault processing disabled on a structure the request went through. */
  fpd: boolean;
}

/** QUALIFIED_FAULTS as a lookup table by reason. */
const QUALIFIED_TABLE = new Uint8Array(256);
for (const r of QUALIFIED_FAULTS) QUALIFIED_TABLE[r] = 1;

export class FaultRecorder {
  private next = 0;
  private seq = 0;
  /** Recording order of each record (for faults()). */
  private readonly order: number[];
  /**
   * Mirror of the F bits for the hot path (no BigInt per faulted request): the source-id of
   * each record, whether it is pending, and how many pending records each source-id has.
   */
  private readonly recSid: Int32Array;
  private readonly recPending: Uint8Array;
  private readonly pendingBySid = new Uint16Array(0x10000);
  private pendingCount = 0;

  constructor(private readonly ctx: UnitContext, private readonly events: Events, readonly count: number) {
    this.order = new Array<number>(count).fill(0);
    this.recSid = new Int32Array(count);
    this.recPending = new Uint8Array(count);
  }

  /** System reset: no record pending, the index back to 0 (the registers reset separately). */
  reset(): void {
    this.next = 0;
    this.seq = 0;
    this.order.fill(0);
    this.recSid.fill(0);
    this.recPending.fill(0);
    this.pendingBySid.fill(0);
    this.pendingCount = 0;
  }

  /** TE changes restart the internal index. */
  resetIndex(): void {
    this.next = 0;
  }

  /** While PFO is set no fault can be recorded: the batch path skips its scan. */
  get blocked(): boolean {
    return (this.ctx.regs.get32(Reg.FSTS) & Fsts.PFO) !== 0;
  }

  record(f: DmaFault): void {
    const { regs, trace, tracing } = this.ctx;
    let fpd = f.fpd;
    // FPD is evaluated whatever the entry's P bit (VT-d 9.3/9.4); the core reports it only for
    // entries it accepted, so a non-present context entry is read here.
    if (!fpd && (f.reason === FR.SM_CONTEXT_ENTRY_P || f.reason === FR.CONTEXT_ENTRY_P)) fpd = this.contextFpd(f.sid);
    if (fpd && QUALIFIED_TABLE[f.reason & 0xff] === 1) {
      if (tracing) trace('vtd_fault_disabled', { sid: f.sid, fault: f.reason });
      return;
    }
    if (tracing) trace('vtd_dmar_fault', { sid: f.sid, fault: f.reason, addr: f.iova, is_write: f.write });
    const fsts = regs.get32(Reg.FSTS);
    if ((fsts & Fsts.PFO) !== 0) {
      if (tracing) trace('vtd_fault_dropped', { sid: f.sid, fault: f.reason, why: 'PFO set' });
      return;
    }
    if (this.pendingBySid[f.sid] !== 0) {
      if (tracing) trace('vtd_fault_collapsed', { sid: f.sid, fault: f.reason });
      return;
    }
    const index = this.next;
    const at = frcdOffset(index);
    if (this.recPending[index] !== 0) {
      regs.set32(Reg.FSTS, fsts | Fsts.PFO);
      if (tracing) trace('vtd_fault_overflow', { sid: f.sid, fault: f.reason, index });
      return;
    }
    const pasid = f.pasid;
    const lo = f.iova & Frcd.FI;
    const hi = BigInt(f.sid) | (pasid !== undefined ? Frcd.PP | (BigInt(pasid & 0xfffff) << Frcd.PV_SHIFT) : 0n) |
      (pasid !== undefined && f.exec ? Frcd.EXE : 0n) | (pasid !== undefined && f.priv ? Frcd.PRIV : 0n) |
      (BigInt(f.reason & 0xff) << Frcd.FR_SHIFT) | (f.write ? 0n : Frcd.T1) | Frcd.F;
    regs.set64(at, lo);
    regs.set64(at + 8, hi);
    this.order[index] = ++this.seq;
    this.recSid[index] = f.sid;
    this.recPending[index] = 1;
    this.pendingBySid[f.sid]!++;
    this.pendingCount++;
    this.next = (index + 1) % this.count;
    if (tracing) trace('vtd_frr_new', { index, hi, lo });
    if ((fsts & Fsts.PPF) === 0) {
      regs.set32(Reg.FSTS, (fsts & ~Fsts.FRI) | Fsts.PPF | (index << Fsts.FRI_SHIFT));
      if (tracing) trace('vtd_fsts_ppf', { set: true });
      this.events.faultCondition(fsts);
    }
  }

  /**
   * Record every fault of a translated batch: the first `faults` entries of its fault index,
   * the faulted requests in order. The common cases
   * (FPD-suppressed, collapsed into a pending record) cost a few typed-array reads; once PFO is
   * set nothing more can be recorded and the scan stops.
   */
  recordBatch(batch: TranslationBatch, faults: number): void {
    const fault = batch.fault, info = batch.faultInfo, sids = batch.sid, list = batch.faultIndex;
    const tracing = this.ctx.tracing;
    for (let k = 0; k < faults; k++) {
      const i = list[k]!;
      const reason = fault[i]!;
      if (!tracing) {
        if ((info[i]! & 0x80) !== 0 && QUALIFIED_TABLE[reason] === 1) continue;
        if (this.pendingBySid[sids[i]!] !== 0) continue;
      }
      const pasid = batch.pasid[i]!;
      const flags = batch.flags[i]!;
      this.record({
        sid: sids[i]!, pasid: pasid === NO_PASID ? undefined : pasid, iova: batch.iova[i]!,
        write: (flags & 1) !== 0, exec: (flags & 2) !== 0, priv: (flags & 4) !== 0, reason,
        fpd: (info[i]! & 0x80) !== 0,
      });
      if (this.blocked) return;
    }
  }

  /** A software write cleared F bits: PPF follows the records; IP clears when nothing is pending. */
  recordsWritten(): void {
    const regs = this.ctx.regs;
    for (let i = 0; i < this.count; i++) {
      if (this.recPending[i] === 0 || (regs.get64(frcdOffset(i) + 8) & Frcd.F) !== 0n) continue;
      this.recPending[i] = 0;
      this.pendingBySid[this.recSid[i]!]!--;
      this.pendingCount--;
    }
    const fsts = regs.get32(Reg.FSTS);
    if ((fsts & Fsts.PPF) !== 0 && this.pendingCount === 0) {
      regs.set32(Reg.FSTS, fsts & ~Fsts.PPF);
      this.ctx.trace('vtd_fsts_ppf', { set: false });
      this.events.faultStatusServiced();
    }
  }

  /** The pending records, oldest first. */
  records(): VtdFaultRecord[] {
    const out: { seq: number; rec: VtdFaultRecord }[] = [];
    for (let index = 0; index < this.count; index++) {
      const lo = this.ctx.regs.get64(frcdOffset(index));
      const hi = this.ctx.regs.get64(frcdOffset(index) + 8);
      if ((hi & Frcd.F) === 0n) continue;
      const reason = Number((hi >> Frcd.FR_SHIFT) & 0xffn);
      const rec: VtdFaultRecord = {
        index, sid: Number(hi & Frcd.SID), reason, name: faultName(reason), address: lo & Frcd.FI,
        write: (hi & Frcd.T1) === 0n, exec: (hi & Frcd.EXE) !== 0n, priv: (hi & Frcd.PRIV) !== 0n,
        addressType: Number((hi >> Frcd.AT_SHIFT) & 3n),
      };
      if ((hi & Frcd.PP) !== 0n) rec.pasid = Number((hi >> Frcd.PV_SHIFT) & 0xfffffn);
      out.push({ seq: this.order[index]!, rec });
    }
    return out.sort((a, b) => a.seq - b.seq).map((x) => x.rec);
  }

  /** FPD of the context entry of `sid`, read from guest memory (root and context must be readable). */
  private contextFpd(sid: number): boolean {
    const root = this.ctx.vtd.root;
    const mem = this.ctx.vtd.memory;
    if (root === undefined) return false;
    const bus = BigInt(sid >> 8), devfn = sid & 0xff;
    const reAt = root.address + bus * 16n + (root.scalable && devfn >= 128 ? 8n : 0n);
    if (!mem.contains(reAt, 8)) return false;
    const re = mem.readU64(reAt);
    if ((re & 1n) === 0n) return false;
    const ceAt = (re & ~0xfffn) + BigInt(root.scalable ? (devfn & 0x7f) * 32 : devfn * 16);
    if (!mem.contains(ceAt, 8)) return false;
    return (mem.readU64(ceAt) & 2n) !== 0n;
  }
}
