/**
 * What register writes do: GCMD one-shot and persistent commands (SRTP, TE, QIE) with GSTS
 * following, register-based invalidation (CCMD, IVA/IOTLB_REG; ignored while queued
 * invalidation is enabled, as on hardware and QEMU), FSTS/FRCD status servicing, and the
 * event control registers. Reads are plain register reads (src/viommu/register-file.ts).
 */
import { Ccmd, Fsts, Gcmd, Gsts, IotlbReg, Iva, MAMV, Reg, Rtaddr } from '../spec/registers.js';
import { callHook, type UnitContext } from './context.js';
import type { Events } from './events.js';
import type { FaultRecorder } from './fault-recording.js';
import type { InvalidationQueue } from './invalidation-queue.js';
import type { TouchedRegister } from './register-file.js';

export class RegisterModel {
  constructor(
    private readonly ctx: UnitContext,
    private readonly events: Events,
    private readonly faults: FaultRecorder,
    private readonly queue: InvalidationQueue,
  ) {}

  /** Side effects of a software write, per register it touched. */
  written(t: TouchedRegister): void {
    const off = t.def.offset;
    switch (off) {
      case Reg.GCMD:
        return this.gcmd(Number(t.value));
      case Reg.CCMD:
        if (t.high) this.ccmd(t.value);
        return;
      case Reg.IOTLB:
        if (t.high) this.iotlbReg(t.value);
        return;
      case Reg.FSTS:
        return this.fsts(Number(t.old));
      case Reg.FECTL:
        return this.events.fectlWritten();
      case Reg.IECTL:
        return this.events.iectlWritten();
      case Reg.ICS:
        return this.events.icsWritten();
      case Reg.IQT:
        if (t.low) this.queue.process();
        return;
    }
    if (off >= Reg.FRCD && t.def.name.endsWith('_HI') && t.old !== t.value) this.faults.recordsWritten();
  }

  /** Global command: persistent bits (TE, QIE) act on a change against GSTS, SRTP on every write. */
  private gcmd(value: number): void {
    const { regs, vtd, trace } = this.ctx;
    const status = regs.get32(Reg.GSTS);
    trace('vtd_reg_write_gcmd', { status, val: value });
    if ((value & Gcmd.SRTP) !== 0) {
      const rtaddr = regs.get64(Reg.RTADDR);
      const address = rtaddr & Rtaddr.RTA;
      const ttm = Number((rtaddr & Rtaddr.TTM) >> Rtaddr.TTM_SHIFT);
      vtd.latchRootTable(address, ttm);
      this.latched = { address, ttm };
      this.queue.ttmValid = ttm === 0 || (ttm === 1 && vtd.caps.smts);
      regs.set32(Reg.GSTS, regs.get32(Reg.GSTS) | Gsts.RTPS);
      trace('vtd_reg_dmar_root', { addr: address, scalable: ttm === 1, ttm });
      this.hookError(callHook(this.ctx, 'translationChanged', {
        cause: 'srtp', enabled: (regs.get32(Reg.GSTS) & Gsts.TES) !== 0, rootTable: { address, ttm },
      }));
    }
    if (((status ^ value) & Gcmd.TE) !== 0) {
      const on = (value & Gcmd.TE) !== 0;
      vtd.setTranslationEnabled(on);
      this.faults.resetIndex();
      regs.set32(Reg.GSTS, on ? regs.get32(Reg.GSTS) | Gsts.TES : regs.get32(Reg.GSTS) & ~Gsts.TES);
      trace('vtd_dmar_enable', { en: on });
      const rtaddr = regs.get64(Reg.RTADDR);
      this.hookError(callHook(this.ctx, 'translationChanged', {
        cause: 'te', enabled: on, rootTable: this.latched ?? { address: rtaddr & Rtaddr.RTA, ttm: Number((rtaddr & Rtaddr.TTM) >> Rtaddr.TTM_SHIFT) },
      }));
    }
    if (((status ^ value) & Gcmd.QIE) !== 0) {
      const on = (value & Gcmd.QIE) !== 0;
      trace('vtd_inv_qi_enable', { enable: on });
      if (on) {
        regs.set32(Reg.GSTS, regs.get32(Reg.GSTS) | Gsts.QIES);
        this.queue.enable();
      } else {
        this.queue.disable();
        regs.set32(Reg.GSTS, regs.get32(Reg.GSTS) & ~Gsts.QIES);
      }
    }
  }

  /** The root table latched by the last SRTP (for hooks); set by Viommu on API calls too. */
  latched: { address: bigint; ttm: number } | undefined;

  /** Context-command register: ICC starts an invalidation of granularity CIRG; CAIG reports it. */
  private ccmd(value: bigint): void {
    const { regs, vtd, trace } = this.ctx;
    if ((value & Ccmd.ICC) === 0n) return;
    if (this.queue.enabled) {
      trace('vtd_err_qi_enabled_reg_inv', { reg: 'CCMD', value });
      return;
    }
    const cirg = Number((value >> Ccmd.CIRG_SHIFT) & 3n);
    const did = Number(value & 0xffffn), sid = Number((value >> Ccmd.SID_SHIFT) & 0xffffn);
    const fm = Number((value >> Ccmd.FM_SHIFT) & 3n);
    let caig = cirg;
    if (cirg === 1) {
      trace('vtd_inv_desc_cc_global', { source: 'register' });
      vtd.caches.flush();
    } else if (cirg === 2) {
      trace('vtd_inv_desc_cc_domain', { domain: did, source: 'register' });
      vtd.caches.invalidateContext('domain', { did });
    } else if (cirg === 3) {
      trace('vtd_inv_desc_cc_devices', { sid, fmask: fm, source: 'register' });
      vtd.caches.invalidateContext('device', { sid, fm });
    } else {
      caig = 0; // reserved request granularity: nothing done
      trace('vtd_err_ccmd_invalid_granularity', { value });
    }
    regs.set64(Reg.CCMD, (value & ~(Ccmd.ICC | Ccmd.CAIG)) | (BigInt(caig) << Ccmd.CAIG_SHIFT));
    if (caig !== 0) {
      const granularity = (['global', 'domain', 'device'] as const)[caig - 1]!;
      this.hookError(callHook(this.ctx, 'contextCacheInvalidated', { granularity, did, sid, fm, source: 'register' }));
    }
  }

  /** IOTLB invalidate register: IVT starts an invalidation of granularity IIRG (page: IVA); IAIG reports it. */
  private iotlbReg(value: bigint): void {
    const { regs, vtd, trace } = this.ctx;
    if ((value & IotlbReg.IVT) === 0n) return;
    if (this.queue.enabled) {
      trace('vtd_err_qi_enabled_reg_inv', { reg: 'IOTLB', value });
      return;
    }
    const iirg = Number((value >> IotlbReg.IIRG_SHIFT) & 3n);
    const did = Number((value >> IotlbReg.DID_SHIFT) & 0xffffn);
    const iva = regs.get64(Reg.IVA);
    const addr = iva & Iva.ADDR, am = Number(iva & Iva.AM), ih = (iva & Iva.IH) !== 0n;
    let iaig = iirg;
    if (iirg === 0 || (iirg === 3 && am > MAMV)) {
      iaig = 0; // reserved granularity or AM beyond MAMV: nothing done
      trace('vtd_err_iotlb_invalid', { value, am });
    } else {
      const granularity = (['global', 'domain', 'page'] as const)[iirg - 1]!;
      if (granularity === 'global') trace('vtd_inv_desc_iotlb_global', { source: 'register' });
      else if (granularity === 'domain') trace('vtd_inv_desc_iotlb_domain', { domain: did, source: 'register' });
      else trace('vtd_inv_desc_iotlb_pages', { domain: did, addr, mask: am, source: 'register' });
      vtd.caches.invalidateIotlb(granularity, { did, addr, am });
    }
    regs.set64(Reg.IOTLB, (value & ~(IotlbReg.IVT | IotlbReg.IAIG)) | (BigInt(iaig) << IotlbReg.IAIG_SHIFT));
    if (iaig !== 0) {
      const granularity = (['global', 'domain', 'page'] as const)[iaig - 1]!;
      this.hookError(callHook(this.ctx, 'iotlbInvalidated', { granularity, did, addr, am, ih, source: 'register' }));
    }
  }

  /** FSTS written (RW1C): clearing IQE resumes the queue; IP clears when nothing is pending. */
  private fsts(old: number): void {
    const now = this.ctx.regs.get32(Reg.FSTS);
    this.events.faultStatusServiced();
    if ((old & Fsts.IQE) !== 0 && (now & Fsts.IQE) === 0) this.queue.process();
  }

  private hookError(e: Error | undefined): void {
    if (e) this.ctx.trace('vtd_hook_error', { message: e.message });
  }
}
