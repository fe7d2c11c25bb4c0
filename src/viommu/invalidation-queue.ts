/**
 * Queued invalidation (VT-d 6.5.2): a ring of 128- or 256-bit descriptors at IQA, of
 * 4 KiB * 2^IQA.QS bytes. Writing IQT hands the descriptors from IQH up to IQT to the unit,
 * which processes them in order at once (there is no asynchrony to model: every invalidation
 * completes before the write returns) and advances IQH past each one it completed.
 *
 * On an error the unit sets FSTS.IQE, records why in IQERCD.IQEI, raises a fault event and
 * stops with IQH on the failing descriptor; nothing after it is processed. Clearing IQE
 * (FSTS is RW1C) resumes processing at IQH, as hardware does once software fixed the queue.
 */
import {
  decodeContextCacheInv, decodeDeviceTlbInv, decodeIecInv, decodeIotlbInv, decodePasidCacheInv, decodePasidDeviceTlbInv,
  decodePasidIotlbInv, decodeWaitDesc, DescType, descriptorType, DESC_TYPE_NAMES, deviceTlbRange, DESC_RESERVED, WIDE_ONLY_TYPES,
} from '../spec/descriptors.js';
import { Fsts, Iqa, Iqei, MAMV, QUEUE_OFFSET_MASK, Reg } from '../spec/registers.js';
import { callHook, type UnitContext } from './context.js';
import type { Events } from './events.js';

/** Where the queue is, latched when QI is enabled (GCMD.QIE). */
interface QueueGeometry {
  base: bigint;
  /** Descriptors in the ring. */
  entries: number;
  /** 256-bit descriptors. */
  wide: boolean;
}

export class InvalidationQueue {
  private geometry: QueueGeometry | undefined;
  private busy = false;
  private again = false;
  /** TTM valid for queued invalidation (the latched RTADDR.TTM is legacy or scalable). */
  ttmValid = true;

  constructor(private readonly ctx: UnitContext, private readonly events: Events) {}

  get enabled(): boolean {
    return this.geometry !== undefined;
  }

  /** GCMD.QIE 0 -> 1: latch IQA; descriptors already posted (IQT != IQH) are processed. */
  enable(): void {
    const iqa = this.ctx.regs.get64(Reg.IQA);
    const wide = this.ctx.vtd.caps.smts && (iqa & Iqa.DW) !== 0n;
    const bytes = 4096 * 2 ** Number(iqa & Iqa.QS);
    this.geometry = { base: iqa & Iqa.ADDR, entries: bytes / (wide ? 32 : 16), wide };
    this.ctx.trace('vtd_inv_qi_setup', { addr: this.geometry.base, size: this.geometry.entries, wide });
    if (this.ctx.regs.get64(Reg.IQT) !== this.ctx.regs.get64(Reg.IQH)) {
      this.ctx.trace('vtd_warn_invalid_qi_tail', { tail: this.ctx.regs.get64(Reg.IQT) });
    }
    this.process();
  }

  /** GCMD.QIE 1 -> 0: IQH resets to 0. */
  disable(): void {
    if (this.ctx.regs.get64(Reg.IQT) !== this.ctx.regs.get64(Reg.IQH)) {
      this.ctx.trace('vtd_warn_qi_disable_pending', { head: this.ctx.regs.get64(Reg.IQH), tail: this.ctx.regs.get64(Reg.IQT) });
    }
    this.geometry = undefined;
    this.ctx.regs.set64(Reg.IQH, 0n);
  }

  /** System reset: queued invalidation off, TTM valid again (the registers reset separately). */
  reset(): void {
    this.geometry = undefined;
    this.ttmValid = true;
    this.again = false;
  }

  /** IQT written, or IQE cleared: process what is posted. */
  process(): void {
    if (this.busy) {
      // An interrupt or hook wrote IQT (or cleared IQE) while we were processing.
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        this.run();
      } while (this.again);
    } finally {
      this.busy = false;
    }
  }

  private run(): void {
    const { regs, trace } = this.ctx;
    const g = this.geometry;
    if (g === undefined || (regs.get32(Reg.FSTS) & Fsts.IQE) !== 0) return;
    const shift = g.wide ? 5n : 4n;
    const tailReg = regs.get64(Reg.IQT) & QUEUE_OFFSET_MASK;
    trace('vtd_inv_qi_tail', { tail: tailReg });
    if (g.wide && (tailReg & 0x10n) !== 0n) return this.error(Iqei.TAIL_MISALIGNED, 'IQT bit 4 set with 256-bit descriptors');
    const tail = Number(tailReg >> shift);
    if (tail >= g.entries) return this.error(Iqei.INVALID_TAIL, `tail ${tail} beyond the ${g.entries}-entry queue`);
    let head = Number((regs.get64(Reg.IQH) & QUEUE_OFFSET_MASK) >> shift);
    if (head !== tail && !this.ttmValid) return this.error(Iqei.INVALID_TTM, 'RTADDR.TTM is not a supported mode');
    while (head !== tail) {
      trace('vtd_inv_qi_fetch', { head });
      const at = g.base + (BigInt(head) << shift);
      const n = g.wide ? 4 : 2;
      if (!this.ctx.vtd.memory.contains(at, n * 8)) {
        return this.error(Iqei.FETCH_ERROR, `descriptor at 0x${at.toString(16)} is outside guest RAM`);
      }
      const q: bigint[] = [];
      for (let i = 0; i < n; i++) q.push(this.ctx.vtd.memory.readU64(at + BigInt(8 * i)));
      const failure = this.execute(q, g.wide);
      if (failure !== undefined) return this.error(failure.iqei, failure.why, q);
      head = (head + 1) % g.entries;
      regs.set64(Reg.IQH, BigInt(head) << shift);
      trace('vtd_inv_qi_head', { head });
      if (this.geometry !== g || (regs.get32(Reg.FSTS) & Fsts.IQE) !== 0) return; // a hook or interrupt changed the queue
    }
  }

  private error(iqei: number, why: string, desc?: bigint[]): void {
    const { regs } = this.ctx;
    const old = regs.get32(Reg.FSTS);
    regs.set32(Reg.FSTS, old | Fsts.IQE);
    regs.set64(Reg.IQERCD, (regs.get64(Reg.IQERCD) & ~0xfn) | BigInt(iqei));
    this.ctx.trace('vtd_inv_qi_error', { iqei, why, head: regs.get64(Reg.IQH), desc });
    this.events.faultCondition(old);
  }

  /** Validate and carry out one descriptor; a failure stops the queue. */
  private execute(q: bigint[], wide: boolean): { iqei: number; why: string } | undefined {
    const { vtd, trace } = this.ctx;
    const type = descriptorType(q[0]!);
    trace('vtd_inv_desc', { type, hi: q[1], lo: q[0] });
    const rsvd = DESC_RESERVED[type];
    const name = DESC_TYPE_NAMES[type] ?? `type 0x${type.toString(16)}`;
    const unsupported =
      rsvd === undefined ||
      ((type === DescType.DEVICE_TLB || type === DescType.PASID_DEVICE_TLB) && !vtd.caps.dt) ||
      (WIDE_ONLY_TYPES.has(type) && !vtd.caps.smts);
    if (unsupported) return { iqei: Iqei.INVALID_TYPE, why: `unsupported descriptor type ${name}` };
    if (WIDE_ONLY_TYPES.has(type) && !wide) return { iqei: Iqei.INVALID_WIDTH, why: `256-bit ${name} descriptor in a 128-bit queue` };
    if ((q[0]! & rsvd[0]) !== 0n || (q[1]! & rsvd[1]) !== 0n || (wide && (q[2]! | q[3]!) !== 0n)) {
      return { iqei: Iqei.RESERVED_FIELD, why: `reserved bits set in a ${name} descriptor` };
    }
    const bad = (why: string) => ({ iqei: Iqei.RESERVED_FIELD, why });
    const hookFailed = (e: Error | undefined) => (e ? { iqei: Iqei.INFO_NOT_AVAILABLE, why: `hook: ${e.message}` } : undefined);
    const caches = vtd.caches;

    switch (type) {
      case DescType.CONTEXT_CACHE: {
        const d = decodeContextCacheInv(q);
        if (d.granularity === undefined) return bad('context-cache invalidation with reserved granularity 0');
        if (d.granularity === 'global') {
          trace('vtd_inv_desc_cc_global', {});
          caches.flush(); // as SRTP: every cached translation goes
        } else if (d.granularity === 'domain') {
          trace('vtd_inv_desc_cc_domain', { domain: d.did });
          caches.invalidateContext('domain', { did: d.did });
        } else {
          trace('vtd_inv_desc_cc_devices', { sid: d.sid, fmask: d.fm });
          caches.invalidateContext('device', { sid: d.sid, fm: d.fm });
        }
        return hookFailed(callHook(this.ctx, 'contextCacheInvalidated', {
          granularity: d.granularity, did: d.did, sid: d.sid, fm: d.fm, source: 'queue',
        }));
      }
      case DescType.IOTLB: {
        const d = decodeIotlbInv(q);
        if (d.granularity === undefined) return bad('IOTLB invalidation with reserved granularity 0');
        if (d.granularity === 'page' && d.am > MAMV) return bad(`IOTLB invalidation with AM ${d.am} > MAMV ${MAMV}`);
        if (d.granularity === 'global') trace('vtd_inv_desc_iotlb_global', {});
        else if (d.granularity === 'domain') trace('vtd_inv_desc_iotlb_domain', { domain: d.did });
        else trace('vtd_inv_desc_iotlb_pages', { domain: d.did, addr: d.addr, mask: d.am });
        caches.invalidateIotlb(d.granularity, { did: d.did, addr: d.addr, am: d.am });
        return hookFailed(callHook(this.ctx, 'iotlbInvalidated', {
          granularity: d.granularity, did: d.did, addr: d.addr, am: d.am, ih: d.ih, source: 'queue',
        }));
      }
      case DescType.DEVICE_TLB: {
        const d = decodeDeviceTlbInv(q);
        const r = deviceTlbRange(d.addr, d.size);
        trace('vtd_inv_desc_dev_tlb', { sid: d.sid, addr: r.addr, bytes: r.bytes });
        return hookFailed(callHook(this.ctx, 'deviceTlbInvalidated', { sid: d.sid, global: false, addr: r.addr, bytes: r.bytes }));
      }
      case DescType.IEC: {
        const d = decodeIecInv(q);
        // No interrupt remapping (ECAP.IR = 0): there is no interrupt-entry cache to drop.
        trace('vtd_inv_desc_iec', { granularity: d.g, index: d.index, mask: d.im });
        return undefined;
      }
      case DescType.WAIT: {
        const d = decodeWaitDesc(q);
        if (d.statusWrite) {
          if (!vtd.memory.contains(d.address, 4)) {
            trace('vtd_inv_desc_wait_write_fail', { hi: q[1], lo: q[0] });
            return { iqei: Iqei.INFO_NOT_AVAILABLE, why: `status write to 0x${d.address.toString(16)} outside guest RAM` };
          }
          trace('vtd_inv_desc_wait_sw', { addr: d.address, data: d.data });
          vtd.memory.writeU32(d.address, d.data);
        }
        if (d.interrupt) {
          trace('vtd_inv_desc_wait_irq', { msg: 'completion event' });
          this.events.waitCompletion();
        }
        return undefined;
      }
      case DescType.PASID_IOTLB: {
        const d = decodePasidIotlbInv(q);
        if (d.granularity === undefined) return bad(`PASID-based IOTLB invalidation with reserved granularity ${d.g}`);
        if (d.granularity === 'page' && d.am > MAMV) return bad(`PASID-based IOTLB invalidation with AM ${d.am} > MAMV ${MAMV}`);
        if (d.granularity === 'pasid') trace('vtd_inv_desc_iotlb_pasid', { domain: d.did, pasid: d.pasid });
        else trace('vtd_inv_desc_iotlb_pasid_pages', { domain: d.did, addr: d.addr, mask: d.am, pasid: d.pasid });
        caches.invalidatePasidIotlb(d.granularity, { did: d.did, pasid: d.pasid, addr: d.addr, am: d.am });
        return hookFailed(callHook(this.ctx, 'pasidIotlbInvalidated', {
          granularity: d.granularity, did: d.did, pasid: d.pasid, addr: d.addr, am: d.am, ih: d.ih,
        }));
      }
      case DescType.PASID_CACHE: {
        const d = decodePasidCacheInv(q);
        if (d.granularity === undefined) return bad(`PASID-cache invalidation with reserved granularity ${d.g}`);
        if (d.granularity === 'global') trace('vtd_inv_desc_pasid_cache_gsi', {});
        else if (d.granularity === 'domain') trace('vtd_inv_desc_pasid_cache_dsi', { domain: d.did });
        else trace('vtd_inv_desc_pasid_cache_psi', { domain: d.did, pasid: d.pasid });
        caches.invalidatePasidCache(d.granularity, { did: d.did, pasid: d.pasid });
        return hookFailed(callHook(this.ctx, 'pasidCacheInvalidated', { granularity: d.granularity, did: d.did, pasid: d.pasid }));
      }
      case DescType.PASID_DEVICE_TLB: {
        const d = decodePasidDeviceTlbInv(q);
        const r = deviceTlbRange(d.addr, d.size);
        trace('vtd_inv_desc_pasid_dev_tlb', { sid: d.sid, pasid: d.pasid, global: d.global, addr: r.addr, bytes: r.bytes });
        const info = d.global
          ? { sid: d.sid, global: true, addr: r.addr, bytes: r.bytes }
          : { sid: d.sid, pasid: d.pasid, global: false, addr: r.addr, bytes: r.bytes };
        return hookFailed(callHook(this.ctx, 'deviceTlbInvalidated', info));
      }
    }
    return { iqei: Iqei.INVALID_TYPE, why: `unsupported descriptor type ${name}` };
  }
}
