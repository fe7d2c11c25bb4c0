/**
 * Queued invalidation: queue mechanics (IQH/IQT/IQA, 128- and 256-bit descriptors,
 * wrap-around, enable/disable), the invalidation wait descriptor and completion events, every
 * invalidation queue error (FSTS.IQE, IQERCD.IQEI, IQH left on the bad descriptor, nothing
 * after it processed, a fault event), resuming after IQE, and the invalidation hooks.
 */
import { describe, expect, it } from 'vitest';
import {
  DESC_RESERVED, DescType, decodeContextCacheInv, decodeDeviceTlbInv, decodeIecInv, decodeIotlbInv, decodePasidCacheInv,
  decodePasidDeviceTlbInv, decodePasidIotlbInv, decodeWaitDesc, descriptorType, deviceTlbRange, encodeContextCacheInv,
  encodeDeviceTlbInv, encodeIecInv, encodeIotlbInv, encodePasidCacheInv, encodePasidDeviceTlbInv, encodePasidIotlbInv,
  encodeWaitDesc, EventCtl, Fsts, GuestBuilder, Iqei, Reg, Vtd, type DescriptorQwords, type VtdOptions,
} from '../src/index.js';
import { createUnit, GuestDriver } from './support/viommu-driver.js';

const RAM = [{ base: 0x10_0000n, size: 16n << 20n }];
const FE_ADDR = 0xfee0_1000n, FE_DATA = 0x41;
const IE_ADDR = 0xfee0_2000n, IE_DATA = 0x42;

async function unit(options: VtdOptions & { wide?: boolean } = {}) {
  const u = await createUnit(options);
  const guest = new GuestBuilder(u.vtd.memory, RAM);
  const drv = new GuestDriver(u.vtd, guest.alloc);
  drv.programFaultEvent(FE_ADDR, FE_DATA);
  drv.programCompletionEvent(IE_ADDR, IE_DATA);
  drv.enableQueue({ wide: options.wide ?? u.vtd.caps.smts });
  const status = guest.alloc.alloc();
  return { ...u, guest, drv, status };
}

const fsts = (drv: GuestDriver) => drv.rd32(Reg.FSTS);
const iqh = (drv: GuestDriver) => Number(drv.rd64(Reg.IQH));
const iqei = (drv: GuestDriver) => Number(drv.rd64(Reg.IQERCD) & 0xfn);
const sw = (address: bigint, data: number) => encodeWaitDesc({ statusWrite: { address, data } });

describe('queue mechanics', () => {
  it('writing IQT processes the posted descriptors and IQH catches up (128-bit)', async () => {
    const { vtd, drv, status } = await unit({ wide: false });
    drv.post([sw(status, 1), sw(status + 4n, 2)]);
    drv.ringTail();
    expect([vtd.memory.readU32(status), vtd.memory.readU32(status + 4n)]).toEqual([1, 2]);
    expect(iqh(drv)).toBe(0x20);
  });

  it('256-bit descriptors advance IQH by 32 bytes', async () => {
    const { vtd, drv, status } = await unit({ wide: true });
    drv.post([sw(status, 7)]);
    drv.ringTail();
    expect(vtd.memory.readU32(status)).toBe(7);
    expect(iqh(drv)).toBe(0x20);
  });

  it('nothing is processed before IQT is written', async () => {
    const { vtd, drv, status } = await unit();
    drv.post([sw(status, 1)]);
    expect(vtd.memory.readU32(status)).toBe(0);
    expect(iqh(drv)).toBe(0);
  });

  it('the queue wraps around at its end', async () => {
    const { vtd, drv, status } = await unit({ wide: true }); // QS 1: 8 KiB = 256 descriptors
    for (let i = 0; i < 255; i++) drv.post([encodeIecInv({ granularity: 'global' })]);
    drv.ringTail();
    drv.post([sw(status, 0xa), sw(status + 4n, 0xb)]); // the last slot, then slot 0
    drv.ringTail();
    expect([vtd.memory.readU32(status), vtd.memory.readU32(status + 4n)]).toEqual([0xa, 0xb]);
    expect(iqh(drv)).toBe(0x20);
  });

  it('descriptors posted before QI is enabled are processed when it is', async () => {
    const u = await createUnit();
    const guest = new GuestBuilder(u.vtd.memory, RAM);
    const q = guest.alloc.alloc(), status = guest.alloc.alloc();
    u.vtd.memory.writeU64(q, sw(status, 9)[0]);
    u.vtd.memory.writeU64(q + 8n, sw(status, 9)[1]);
    u.vtd.mmio.write(Reg.IQA, 8, q);
    u.vtd.mmio.write(Reg.IQT, 8, 0x10);
    expect(u.vtd.memory.readU32(status)).toBe(0);
    u.vtd.mmio.write(Reg.GCMD, 4, 0x0400_0000); // QIE
    expect(u.vtd.memory.readU32(status)).toBe(9);
  });

  it('disabling QI clears GSTS.QIES and resets IQH to 0', async () => {
    const { drv } = await unit();
    drv.submit();
    expect(iqh(drv)).not.toBe(0);
    drv.disableQueue();
    expect(iqh(drv)).toBe(0);
    expect(drv.rd32(Reg.GSTS) & 0x0400_0000).toBe(0);
  });

  it('IQT writes while QI is disabled are only latched', async () => {
    const u = await createUnit();
    u.vtd.mmio.write(Reg.IQT, 8, 0x40);
    expect(u.vtd.mmio.read(Reg.IQH, 8)).toBe(0n);
    expect(u.vtd.mmio.read(Reg.FSTS, 4)).toBe(0n);
  });

  it('a 4-byte IQT write at the low half triggers processing, the high half does not', async () => {
    const { vtd, drv, status } = await unit();
    drv.post([sw(status, 5)]);
    vtd.mmio.write(Reg.IQT + 4, 4, 0);
    expect(vtd.memory.readU32(status)).toBe(0);
    vtd.mmio.write(Reg.IQT, 4, 0x20);
    expect(vtd.memory.readU32(status)).toBe(5);
  });
});

describe('invalidation wait descriptor', () => {
  it('SW writes the 32-bit status data', async () => {
    const { vtd, drv, status } = await unit();
    vtd.memory.writeU64(status, 0xffff_ffff_ffff_ffffn);
    drv.post([sw(status, 0x1234_5678)]);
    drv.ringTail();
    expect(vtd.memory.readU64(status)).toBe(0xffff_ffff_1234_5678n);
  });

  it('IF sets ICS.IWC and sends the completion event (IEUADDR:IEADDR, IEDATA)', async () => {
    const { drv, irqs } = await unit();
    drv.post([encodeWaitDesc({ interrupt: true })]);
    drv.ringTail();
    expect(drv.rd32(Reg.ICS)).toBe(1);
    expect(irqs).toEqual([{ address: IE_ADDR, data: IE_DATA }]);
    expect(drv.rd32(Reg.IECTL)).toBe(0);
  });

  it('a masked completion event stays pending (IECTL.IP) and is sent when IM is cleared', async () => {
    const { drv, irqs } = await unit();
    drv.wr32(Reg.IECTL, EventCtl.IM);
    drv.post([encodeWaitDesc({ interrupt: true })]);
    drv.ringTail();
    expect(irqs).toEqual([]);
    expect(drv.rd32(Reg.IECTL)).toBe(EventCtl.IM + EventCtl.IP);
    drv.wr32(Reg.IECTL, 0);
    expect(irqs).toEqual([{ address: IE_ADDR, data: IE_DATA }]);
    expect(drv.rd32(Reg.IECTL)).toBe(0);
  });

  it('no new completion event while ICS.IWC is still set', async () => {
    const { drv, irqs } = await unit();
    drv.post([encodeWaitDesc({ interrupt: true }), encodeWaitDesc({ interrupt: true })]);
    drv.ringTail();
    expect(irqs).toHaveLength(1);
    drv.wr32(Reg.ICS, 1);
    drv.post([encodeWaitDesc({ interrupt: true })]);
    drv.ringTail();
    expect(irqs).toHaveLength(2);
  });

  it('clearing ICS.IWC clears a pending IECTL.IP without a message', async () => {
    const { drv, irqs } = await unit();
    drv.wr32(Reg.IECTL, EventCtl.IM);
    drv.post([encodeWaitDesc({ interrupt: true })]);
    drv.ringTail();
    drv.wr32(Reg.ICS, 1);
    expect(drv.rd32(Reg.IECTL)).toBe(EventCtl.IM);
    drv.wr32(Reg.IECTL, 0);
    expect(irqs).toEqual([]);
  });

  it('SW happens before the completion event', async () => {
    const seen: number[] = [];
    const vtd: Vtd = await Vtd.create({ memory: { size: 32 << 20 }, onInterrupt: () => void seen.push(vtd.memory.readU32(status)) });
    const guest = new GuestBuilder(vtd.memory, RAM);
    const drv = new GuestDriver(vtd, guest.alloc);
    const status = guest.alloc.alloc();
    drv.programCompletionEvent(IE_ADDR, IE_DATA);
    drv.enableQueue();
    drv.post([encodeWaitDesc({ interrupt: true, statusWrite: { address: status, data: 3 } })]);
    drv.ringTail();
    expect(seen).toEqual([3]);
  });

  it('a fence-only wait descriptor is valid', async () => {
    const { drv } = await unit();
    drv.post([encodeWaitDesc({ fence: true })]);
    drv.ringTail();
    expect(fsts(drv) & Fsts.IQE).toBe(0);
  });

  it('a wait descriptor with no flag is accepted as a no-op (QEMU: invalid)', async () => {
    const { drv } = await unit();
    drv.post([encodeWaitDesc({})]);
    drv.ringTail();
    expect(fsts(drv) & Fsts.IQE).toBe(0);
    expect(iqh(drv)).toBe(0x20);
  });
});

type Unit = Awaited<ReturnType<typeof unit>>;

/** On unit `s`: post [good, bad, wait-status], ring, and return what the unit shows. */
function iqeOn(s: Unit, bad: DescriptorQwords) {
  const { vtd, drv, status } = s;
  vtd.memory.writeU64(status, 0n);
  const start = drv.queue!.tail;
  drv.post([sw(status, 1), bad, sw(status + 4n, 2)]);
  drv.ringTail();
  const slot = drv.queue!.wide ? 32 : 16;
  return {
    ...s,
    iqe: (fsts(drv) & Fsts.IQE) !== 0,
    headOnBad: iqh(drv) === ((start + 1) % drv.queue!.entries) * slot,
    before: vtd.memory.readU32(status),
    after: vtd.memory.readU32(status + 4n),
    iqei: iqei(drv),
  };
}

/** Recover from an invalidation queue error: QI off (IQH = 0), IQE cleared, QI on again. */
function recover(s: Unit): void {
  s.drv.disableQueue();
  s.drv.wr32(Reg.FSTS, Fsts.IQE);
  s.drv.enableQueue({ wide: s.vtd.caps.smts });
}

/** A fresh unit with one bad descriptor posted between two good ones. */
async function iqeCase(bad: DescriptorQwords | ((s: Unit) => DescriptorQwords), options: VtdOptions & { wide?: boolean } = {}) {
  const s = await unit(options);
  return iqeOn(s, typeof bad === 'function' ? bad(s) : bad);
}

describe('invalidation queue errors', () => {
  it('an unknown descriptor type sets IQE, leaves IQH on it, stops, and raises a fault event', async () => {
    const r = await iqeCase([0xan, 0n, 0n, 0n]);
    expect(r).toMatchObject({ iqe: true, headOnBad: true, before: 1, after: 0, iqei: Iqei.INVALID_TYPE });
    expect(r.irqs).toEqual([{ address: FE_ADDR, data: FE_DATA }]);
  });

  it('type 0 is invalid', async () => {
    expect(await iqeCase([0n, 0n, 0n, 0n])).toMatchObject({ iqe: true, headOnBad: true, iqei: Iqei.INVALID_TYPE });
  });

  it('type bits 11:9 make an unknown type (0x11)', async () => {
    const d = encodeContextCacheInv({ granularity: 'global' });
    d[0] |= 1n << 9n;
    expect(descriptorType(d[0])).toBe(0x11);
    expect(await iqeCase(d)).toMatchObject({ iqe: true, iqei: Iqei.INVALID_TYPE });
  });

  it('a page-group response is invalid without page-request support', async () => {
    expect(await iqeCase([BigInt(DescType.PAGE_GROUP_RESPONSE) | 0x10n, 0n, 0n, 0n])).toMatchObject({ iqe: true, iqei: Iqei.INVALID_TYPE });
  });

  it('device-TLB descriptors are invalid without ECAP.DT', async () => {
    expect(await iqeCase(encodeDeviceTlbInv({ sid: 8 }))).toMatchObject({ iqe: true, iqei: Iqei.INVALID_TYPE });
    expect(await iqeCase(encodePasidDeviceTlbInv({ sid: 8, pasid: 1 }))).toMatchObject({ iqe: true, iqei: Iqei.INVALID_TYPE });
  });

  it('PASID-based descriptors are invalid on a unit without scalable mode', async () => {
    expect(await iqeCase(encodePasidCacheInv({ granularity: 'global' }), { caps: { smts: false } })).toMatchObject({ iqe: true, iqei: Iqei.INVALID_TYPE });
  });

  for (const [name, d] of [
    ['PASID-based IOTLB', encodePasidIotlbInv({ granularity: 'pasid', did: 1, pasid: 1 })],
    ['PASID-cache', encodePasidCacheInv({ granularity: 'global' })],
    ['PASID-based device-TLB', encodePasidDeviceTlbInv({ sid: 1, pasid: 1 })],
  ] as const) {
    it(`a 256-bit ${name} descriptor in a 128-bit queue is an invalid width`, async () => {
      expect(await iqeCase(d, { wide: false, caps: { dt: true } })).toMatchObject({ iqe: true, headOnBad: true, after: 0, iqei: Iqei.INVALID_WIDTH });
    });
  }

  const valid: [string, number, DescriptorQwords][] = [
    ['context-cache', DescType.CONTEXT_CACHE, encodeContextCacheInv({ granularity: 'global' })],
    ['IOTLB', DescType.IOTLB, encodeIotlbInv({ granularity: 'global' })],
    ['device-TLB', DescType.DEVICE_TLB, encodeDeviceTlbInv({ sid: 8 })],
    ['IEC', DescType.IEC, encodeIecInv({ granularity: 'global' })],
    ['wait', DescType.WAIT, encodeWaitDesc({ fence: true })],
    ['PASID-based IOTLB', DescType.PASID_IOTLB, encodePasidIotlbInv({ granularity: 'pasid', did: 1, pasid: 1 })],
    ['PASID-cache', DescType.PASID_CACHE, encodePasidCacheInv({ granularity: 'global' })],
    ['PASID-based device-TLB', DescType.PASID_DEVICE_TLB, encodePasidDeviceTlbInv({ sid: 8, pasid: 1 })],
  ];
  for (const [name, type, d] of valid) {
    it(`every reserved bit of a ${name} descriptor is an error, and none of its defined bits is`, async () => {
      const [r0, r1] = DESC_RESERVED[type]!;
      const s = await unit({ caps: { dt: true } });
      expect(iqeOn(s, d)).toMatchObject({ iqe: false, after: 2 });
      const typeBits = 0xe0fn;
      for (const [qi, mask] of [[0, r0 | typeBits], [1, r1]] as const) {
        for (let b = 0n; b < 64n; b++) {
          if (((mask >> b) & 1n) !== 0n) continue;
          const other = [...d] as DescriptorQwords;
          other[qi] |= 1n << b;
          expect([qi, Number(b), iqeOn(s, other).iqe]).toEqual([qi, Number(b), false]);
        }
      }
      for (const [qi, mask] of [[0, r0], [1, r1]] as const) {
        for (let b = 0n; b < 64n; b++) {
          if (((mask >> b) & 1n) === 0n) continue;
          const bad = [...d] as DescriptorQwords;
          bad[qi] |= 1n << b;
          const r = iqeOn(s, bad);
          expect([qi, Number(b), r.iqe, r.iqei, r.headOnBad, r.after]).toEqual([qi, Number(b), true, Iqei.RESERVED_FIELD, true, 0]);
          recover(s);
          if (qi === 1 && mask === 0xffff_ffff_ffff_ffffn && b > 12n) break; // the rest of a fully reserved q1 behaves alike
        }
      }
    });
  }

  it('non-zero qwords 2-3 of a 256-bit descriptor are reserved', async () => {
    const d = encodeIotlbInv({ granularity: 'global' });
    d[3] = 1n;
    expect(await iqeCase(d, { wide: true })).toMatchObject({ iqe: true, headOnBad: true, iqei: Iqei.RESERVED_FIELD });
  });

  it('qwords 2-3 are not part of a 128-bit queue slot', async () => {
    const d = encodeIotlbInv({ granularity: 'global' });
    d[2] = 1n;
    expect(await iqeCase(d, { wide: false })).toMatchObject({ iqe: false, after: 2 });
  });

  it('reserved granularities are errors', async () => {
    for (const d of [
      encodeContextCacheInv({ granularity: 0 }),
      encodeIotlbInv({ granularity: 0 }),
      encodePasidIotlbInv({ granularity: 0, did: 1, pasid: 1 }),
      encodePasidIotlbInv({ granularity: 1, did: 1, pasid: 1 }),
      encodePasidCacheInv({ granularity: 2 }),
    ]) expect(await iqeCase(d)).toMatchObject({ iqe: true, headOnBad: true, iqei: Iqei.RESERVED_FIELD });
  });

  it('an address mask beyond CAP.MAMV is an error', async () => {
    expect(await iqeCase(encodeIotlbInv({ granularity: 'page', did: 1, am: 19 }))).toMatchObject({ iqe: true, iqei: Iqei.RESERVED_FIELD });
    expect(await iqeCase(encodePasidIotlbInv({ granularity: 'page', did: 1, pasid: 1, am: 19 }))).toMatchObject({ iqe: true });
  });

  it('a status write outside guest RAM is an error', async () => {
    expect(await iqeCase(sw(0x8000_0000n, 1))).toMatchObject({ iqe: true, headOnBad: true, after: 0 });
  });

  it('a descriptor fetched from outside guest RAM is a fetch error', async () => {
    const u = await createUnit();
    u.vtd.mmio.write(Reg.IQA, 8, 0x8000_0000n); // no RAM there
    u.vtd.mmio.write(Reg.GCMD, 4, 0x0400_0000);
    u.vtd.mmio.write(Reg.IQT, 8, 0x10);
    expect(Number(u.vtd.mmio.read(Reg.FSTS, 4)) & Fsts.IQE).not.toBe(0);
    expect(Number(u.vtd.mmio.read(Reg.IQERCD, 8))).toBe(Iqei.FETCH_ERROR);
    expect(u.vtd.mmio.read(Reg.IQH, 8)).toBe(0n);
  });

  it('a tail beyond the queue is an error and nothing is processed', async () => {
    const { vtd, drv, status } = await unit({ wide: false }); // QS 0: 256 entries
    drv.post([sw(status, 1)]);
    vtd.mmio.write(Reg.IQT, 8, 0x1000n);
    expect(fsts(drv) & Fsts.IQE).not.toBe(0);
    expect(iqei(drv)).toBe(Iqei.INVALID_TAIL);
    expect([iqh(drv), vtd.memory.readU32(status)]).toEqual([0, 0]);
  });

  it('IQT bit 4 with 256-bit descriptors is a misaligned tail', async () => {
    const { vtd, drv } = await unit({ wide: true });
    vtd.mmio.write(Reg.IQT, 8, 0x10n);
    expect(fsts(drv) & Fsts.IQE).not.toBe(0);
    expect(iqei(drv)).toBe(Iqei.TAIL_MISALIGNED);
  });

  it('a reserved RTADDR.TTM latched by SRTP makes the queue fail (IQEI 7)', async () => {
    const { vtd, drv, status } = await unit();
    vtd.mmio.write(Reg.RTADDR, 8, 2n << 10n);
    vtd.mmio.write(Reg.GCMD, 4, 0x4000_0000 | 0x0400_0000); // SRTP, QIE kept
    drv.post([sw(status, 1)]);
    drv.ringTail();
    expect(iqei(drv)).toBe(Iqei.INVALID_TTM);
    expect(vtd.memory.readU32(status)).toBe(0);
  });

  it('a hook that throws turns the descriptor into an error', async () => {
    const r = await iqeCase((s) => {
      s.vtd.mmio.hooks.pasidCacheInvalidated = () => {
        throw new Error('host rejected the bind');
      };
      return encodePasidCacheInv({ granularity: 'pasid', did: 3, pasid: 9 });
    });
    expect(r).toMatchObject({ iqe: true, headOnBad: true, after: 0, iqei: Iqei.INFO_NOT_AVAILABLE });
    expect(r.traces.find((t) => t.name === 'vtd_inv_qi_error')?.args.why).toBe('hook: host rejected the bind');
  });

  it('a hook that returns an Error turns the descriptor into an error', async () => {
    const r = await iqeCase((s) => {
      s.vtd.mmio.hooks.contextCacheInvalidated = () => new Error('no');
      return encodeContextCacheInv({ granularity: 'global' });
    });
    expect(r).toMatchObject({ iqe: true, headOnBad: true, after: 0 });
  });

  it('a masked fault event leaves FECTL.IP set and no message', async () => {
    const r = await iqeCase((s) => {
      s.drv.wr32(Reg.FECTL, EventCtl.IM);
      return [0xfn, 0n, 0n, 0n];
    });
    expect(r.irqs).toEqual([]);
    expect(r.drv.rd32(Reg.FECTL)).toBe(EventCtl.IM + EventCtl.IP);
  });

  it('IQE while a primary fault is pending raises no new fault event', async () => {
    const r = await iqeCase((s) => {
      s.vtd.setRootTable(s.guest.root(), { scalable: false });
      s.vtd.translate({ sid: 0x100, iova: 0n }); // recorded: PPF and one fault event
      return [0xfn, 0n, 0n, 0n];
    });
    expect(r.iqe).toBe(true);
    expect(r.irqs).toHaveLength(1);
  });

  it('IQT writes are not processed while IQE is set', async () => {
    const r = await iqeCase([0xfn, 0n, 0n, 0n]);
    const extra = r.guest.alloc.alloc();
    r.drv.post([sw(extra, 5)]);
    r.drv.ringTail();
    expect(r.vtd.memory.readU32(extra)).toBe(0);
  });

  it('clearing IQE after fixing the descriptor resumes at IQH', async () => {
    const r = await iqeCase([0xfn, 0n, 0n, 0n]);
    const slot = r.drv.queue!.wide ? 32 : 16;
    const bad = r.drv.queue!.base + BigInt(slot);
    const fixed = encodeIecInv({ granularity: 'global' });
    r.vtd.memory.writeU64(bad, fixed[0]);
    r.vtd.memory.writeU64(bad + 8n, fixed[1]);
    r.drv.wr32(Reg.FSTS, Fsts.IQE);
    expect(fsts(r.drv) & Fsts.IQE).toBe(0);
    expect(r.vtd.memory.readU32(r.status + 4n)).toBe(2);
    expect(iqh(r.drv)).toBe(3 * slot);
  });

  it('clearing IQE clears FECTL.IP when nothing else is pending', async () => {
    const r = await iqeCase((s) => {
      s.drv.wr32(Reg.FECTL, EventCtl.IM);
      return [0xfn, 0n, 0n, 0n];
    });
    r.drv.wr32(Reg.FSTS, Fsts.IQE); // the bad descriptor fails again: IQE and IP again
    expect(r.drv.rd32(Reg.FECTL)).toBe(EventCtl.IM + EventCtl.IP);
    r.drv.disableQueue();
    r.drv.wr32(Reg.FSTS, Fsts.IQE);
    expect(r.drv.rd32(Reg.FECTL)).toBe(EventCtl.IM);
  });
});

describe('descriptor decoding and hooks', () => {
  it('every encoder round-trips through its decoder', () => {
    expect(decodeContextCacheInv(encodeContextCacheInv({ granularity: 'device', did: 0x1234, sid: 0xabcd, fm: 2 })))
      .toEqual({ g: 3, granularity: 'device', did: 0x1234, sid: 0xabcd, fm: 2 });
    expect(decodeIotlbInv(encodeIotlbInv({ granularity: 'page', did: 9, addr: 0xdead_b000n, am: 3, ih: true, drainReads: true })))
      .toEqual({ g: 3, granularity: 'page', did: 9, addr: 0xdead_b000n, am: 3, ih: true, drainReads: true, drainWrites: false });
    expect(decodeDeviceTlbInv(encodeDeviceTlbInv({ sid: 0x18, addr: 0x7000n, size: true, pfsid: 0xfedc, mip: 31 })))
      .toEqual({ sid: 0x18, addr: 0x7000n, size: true, pfsid: 0xfedc, mip: 31 });
    expect(decodeIecInv(encodeIecInv({ granularity: 'index', index: 0x55, im: 4 }))).toEqual({ g: 1, granularity: 'index', index: 0x55, im: 4 });
    expect(decodeWaitDesc(encodeWaitDesc({ statusWrite: { address: 0x1004n, data: 0xffff_ffff }, interrupt: true, fence: true })))
      .toEqual({ interrupt: true, statusWrite: true, fence: true, pageRequestDrain: false, data: 0xffff_ffff, address: 0x1004n });
    expect(decodePasidIotlbInv(encodePasidIotlbInv({ granularity: 'page', did: 2, pasid: 0xfffff, addr: 0x20_0000n, am: 9, ih: true })))
      .toEqual({ g: 3, granularity: 'page', did: 2, pasid: 0xfffff, addr: 0x20_0000n, am: 9, ih: true });
    expect(decodePasidCacheInv(encodePasidCacheInv({ granularity: 'pasid', did: 5, pasid: 0x12345 })))
      .toEqual({ g: 1, granularity: 'pasid', did: 5, pasid: 0x12345 });
    expect(decodePasidDeviceTlbInv(encodePasidDeviceTlbInv({ sid: 0x18, pasid: 7, global: true, addr: 0x3000n, size: true, pfsid: 0x1234, mip: 3 })))
      .toEqual({ sid: 0x18, pasid: 7, mip: 3, pfsid: 0x1234, global: true, size: true, addr: 0x3000n });
  });

  it('the type is bits 3:0 with bits 11:9 above them', () => {
    for (const [t, d] of [[1, encodeContextCacheInv({ granularity: 'global' })], [8, encodePasidDeviceTlbInv({ sid: 0, pasid: 0 })]] as const) {
      expect(descriptorType(d[0])).toBe(t);
    }
  });

  it('a device-TLB size-encoded address covers 2^(lowest clear bit + 1) bytes', () => {
    expect(deviceTlbRange(0x5000n, false)).toEqual({ addr: 0x5000n, bytes: 0x1000n });
    expect(deviceTlbRange(0x4000n, true)).toEqual({ addr: 0x4000n, bytes: 0x2000n });
    expect(deviceTlbRange(0x7000n, true)).toEqual({ addr: 0x0n, bytes: 0x10000n });
  });

  it('context, IOTLB, PASID-cache, PASID-IOTLB and device-TLB hooks see the decoded request', async () => {
    const { vtd, drv } = await unit({ caps: { dt: true } });
    const seen: unknown[] = [];
    vtd.mmio.hooks = {
      contextCacheInvalidated: (i) => void seen.push(['cc', i]),
      iotlbInvalidated: (i) => void seen.push(['iotlb', i]),
      pasidCacheInvalidated: (i) => void seen.push(['pc', i]),
      pasidIotlbInvalidated: (i) => void seen.push(['piotlb', i]),
      deviceTlbInvalidated: (i) => void seen.push(['devtlb', i]),
    };
    drv.submit(
      encodeContextCacheInv({ granularity: 'device', sid: 0x18, fm: 1 }),
      encodeIotlbInv({ granularity: 'page', did: 4, addr: 0x8000n, am: 1, ih: true }),
      encodePasidCacheInv({ granularity: 'domain', did: 4 }),
      encodePasidIotlbInv({ granularity: 'pasid', did: 4, pasid: 6 }),
      encodeDeviceTlbInv({ sid: 0x18, addr: 0x4000n, size: true }),
      encodePasidDeviceTlbInv({ sid: 0x18, pasid: 6, addr: 0x9000n }),
    );
    expect(seen).toEqual([
      ['cc', { granularity: 'device', did: 0, sid: 0x18, fm: 1, source: 'queue' }],
      ['iotlb', { granularity: 'page', did: 4, addr: 0x8000n, am: 1, ih: true, source: 'queue' }],
      ['pc', { granularity: 'domain', did: 4, pasid: 0 }],
      ['piotlb', { granularity: 'pasid', did: 4, pasid: 6, addr: 0n, am: 0, ih: false }],
      ['devtlb', { sid: 0x18, global: false, addr: 0x4000n, bytes: 0x2000n }],
      ['devtlb', { sid: 0x18, pasid: 6, global: false, addr: 0x9000n, bytes: 0x1000n }],
    ]);
  });

  it('descriptors are traced with QEMU trace-event names', async () => {
    const { drv, traces } = await unit();
    drv.submit(encodeIotlbInv({ granularity: 'domain', did: 3 }), encodePasidCacheInv({ granularity: 'global' }));
    const names = traces.map((t) => t.name);
    expect(names).toContain('vtd_inv_desc');
    expect(names).toContain('vtd_inv_desc_iotlb_domain');
    expect(names).toContain('vtd_inv_desc_pasid_cache_gsi');
    expect(names).toContain('vtd_inv_desc_wait_sw');
  });
});
