/**
 * Remapping-hardware event interrupts (VT-d 7.4, 11.4.7-11.4.8): the fault event (FSTS status
 * -> FECTL, FEDATA, FEADDR, FEUADDR) and the invalidation completion event (ICS.IWC -> IECTL,
 * IEDATA, IEADDR, IEUADDR). An event sets the control register's IP; unless IM masks it the
 * message goes out at once through onInterrupt and IP clears. A masked event stays pending
 * until software clears IM (then it is sent) or services the status that caused it (then IP
 * clears without a message).
 */
import { EventCtl, Fsts, Ics, Reg } from '../spec/registers.js';
import type { UnitContext } from './context.js';

/** FSTS bits that make a fault event pending; while any is set, a new one is no new condition. */
export const FAULT_STATUS = Fsts.PFO | Fsts.PPF | Fsts.IQE | Fsts.ICE | Fsts.ITE;

interface EventRegs {
  ctl: number;
  data: number;
  addr: number;
  uaddr: number;
  name: 'fault' | 'completion';
}

const FAULT: EventRegs = { ctl: Reg.FECTL, data: Reg.FEDATA, addr: Reg.FEADDR, uaddr: Reg.FEUADDR, name: 'fault' };
const COMPLETION: EventRegs = { ctl: Reg.IECTL, data: Reg.IEDATA, addr: Reg.IEADDR, uaddr: Reg.IEUADDR, name: 'completion' };

export class Events {
  constructor(private readonly ctx: UnitContext) {}

  /**
   * A new fault status bit was just set (PPF by recording, IQE, ICE, ITE); `oldFsts` is FSTS
   * before. If another status was already pending, this is not a new interrupt condition.
   */
  faultCondition(oldFsts: number): void {
    if ((oldFsts & FAULT_STATUS) !== 0) return;
    this.raise(FAULT);
  }

  /** An invalidation wait descriptor with IF completed. */
  waitCompletion(): void {
    const r = this.ctx.regs;
    if ((r.get32(Reg.ICS) & Ics.IWC) !== 0) {
      this.ctx.trace('vtd_inv_desc_wait_irq', { msg: 'IWC already set: no new completion event' });
      return;
    }
    r.set32(Reg.ICS, r.get32(Reg.ICS) | Ics.IWC);
    this.raise(COMPLETION);
  }

  /** FECTL written: a pending, now unmasked event is sent. */
  fectlWritten(): void {
    this.ctx.trace('vtd_reg_write_fectl', { value: this.ctx.regs.get32(Reg.FECTL) });
    this.sendIfUnmasked(FAULT);
  }

  /** IECTL written: likewise for completion events. */
  iectlWritten(): void {
    this.ctx.trace('vtd_reg_write_iectl', { value: this.ctx.regs.get32(Reg.IECTL) });
    this.sendIfUnmasked(COMPLETION);
  }

  /** Software serviced fault status (FSTS write, F bits cleared): IP clears once nothing is pending. */
  faultStatusServiced(): void {
    const r = this.ctx.regs;
    if ((r.get32(Reg.FSTS) & FAULT_STATUS) === 0 && (r.get32(Reg.FECTL) & EventCtl.IP) !== 0) {
      r.set32(Reg.FECTL, r.get32(Reg.FECTL) & ~EventCtl.IP);
      this.ctx.trace('vtd_fsts_clear_ip', {});
    }
  }

  /** ICS written: clearing IWC services a pending completion event. */
  icsWritten(): void {
    const r = this.ctx.regs;
    if ((r.get32(Reg.ICS) & Ics.IWC) === 0 && (r.get32(Reg.IECTL) & EventCtl.IP) !== 0) {
      r.set32(Reg.IECTL, r.get32(Reg.IECTL) & ~EventCtl.IP);
      this.ctx.trace('vtd_reg_ics_clear_ip', {});
    }
  }

  private raise(e: EventRegs): void {
    const r = this.ctx.regs;
    r.set32(e.ctl, r.get32(e.ctl) | EventCtl.IP);
    this.sendIfUnmasked(e);
  }

  private sendIfUnmasked(e: EventRegs): void {
    const r = this.ctx.regs;
    const ctl = r.get32(e.ctl);
    if ((ctl & EventCtl.IP) === 0 || (ctl & EventCtl.IM) !== 0) return;
    r.set32(e.ctl, ctl & ~EventCtl.IP);
    const address = (BigInt(r.get32(e.uaddr)) << 32n) | BigInt(r.get32(e.addr));
    const data = r.get32(e.data);
    this.ctx.trace('vtd_irq_generate', { addr: address, data, event: e.name });
    this.ctx.interrupt(address, data);
  }
}
