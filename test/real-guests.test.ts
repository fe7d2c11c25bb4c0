/**
 * What real Linux guests write (/work/shared/reference/real-guests.md) translates: a model that
 * rejected any of it would break them. Tables are placed above 4 GiB, as in a 4 GiB q35 guest.
 */
import { describe, expect, it } from 'vitest';
import { GuestBuilder, Vtd } from '../src/index.js';

const HI = 1n << 32n;
const XD = 1n << 63n;

async function linuxGuest() {
  // RAM at 0-16 MiB and 4 GiB-4 GiB+16 MiB; the driver allocates its tables in the high region.
  const vtd = await Vtd.create({ memory: { regions: [{ base: 0n, size: 16 << 20 }, { base: HI, size: 16 << 20 }] } });
  const guest = new GuestBuilder(vtd.memory, [{ base: HI, size: 16n << 20n }]);
  return { vtd, guest };
}

describe('tables a Linux 6.1 guest programs', () => {
  it('first stage (QEMU x-flts): PGTT 001b, AW=2, bit 133 (NXE) set, XD and U/S at every level, A/D preset', async () => {
    const { vtd, guest } = await linuxGuest();
    const sid = (0x10 << 3) | 0; // 00:10.0: devfn >= 128, the upper context table
    const pt = guest.firstStage({ levels: 4, nonLeaf: { xd: true } });
    pt.map(0x7fff_f000_0000n, 0x20_0000n, { size: 4096, xd: true, accessed: true, dirty: true });
    pt.map(0x7fff_f000_1000n, 0x21_0000n, { size: 4096, xd: true, write: false, accessed: true });
    // Context entry q0 = PASID-directory pointer | PDTS=2 | P, q1 = 0 (no PASIDE, RID_PASID 0).
    guest.scalableDevice(sid, { pdts: 2, paside: false });
    guest.pasidEntry(sid, 0, { pgtt: 'first-stage', aw: 2, did: 7, fsptptr: pt.root, levels: 4, nxe: true });
    vtd.setRootTable(guest.root());

    expect(vtd.translate({ sid, iova: 0x7fff_f000_0abcn, write: true })).toEqual({
      ok: true, address: 0x20_0abcn, pageSize: 4096, read: true, write: true, exec: false,
    });
    expect(vtd.translate({ sid, iova: 0x7fff_f000_1abcn })).toMatchObject({ ok: true, address: 0x21_0abcn, write: false });
    // Requests with a PASID fault on these guests: PASIDE is clear.
    expect(vtd.translate({ sid, pasid: 1, iova: 0x7fff_f000_0abcn })).toMatchObject({ ok: false, fault: { reason: 0x45 } });
    // XD really is set on every level the guest wrote.
    expect(vtd.memory.readU64(pt.entryAddress(0x7fff_f000_0000n, 4)) & XD).toBe(XD);
  });

  it('second stage (QEMU without x-flts): PGTT 010b, AW=1 (3-level, 39-bit) and AW=2, R/W non-leaf entries, 2 MiB and 1 GiB leaves', async () => {
    const { vtd, guest } = await linuxGuest();
    const sid = 3 << 3;
    const ss3 = guest.secondStage({ aw: 1, nonLeaf: { exec: false } });
    ss3.map(0x4000_0000n, 0x4000_0000n, { size: 1 << 30 });
    ss3.map(0x20_0000n, 0x60_0000n, { size: 2 << 20 });
    guest.scalableDevice(sid, { pdts: 2, paside: false });
    guest.pasidEntry(sid, 0, { pgtt: 'second-stage', aw: 1, did: 1, ssptptr: ss3.root });
    const sid4 = 4 << 3;
    const ss4 = guest.secondStage({ aw: 2, nonLeaf: { exec: false } });
    ss4.map(0x1000n, 0x5000n, { size: 4096 });
    guest.scalableDevice(sid4, { pdts: 2, paside: false });
    guest.pasidEntry(sid4, 0, { pgtt: 'second-stage', aw: 2, did: 2, ssptptr: ss4.root });
    vtd.setRootTable(guest.root());

    expect(vtd.translate({ sid, iova: 0x4123_4567n, write: true })).toMatchObject({ ok: true, address: 0x4123_4567n, pageSize: 1 << 30 });
    expect(vtd.translate({ sid, iova: 0x20_1234n })).toMatchObject({ ok: true, address: 0x60_1234n, pageSize: 2 << 20 });
    expect(vtd.translate({ sid: sid4, iova: 0x1008n, write: true })).toMatchObject({ ok: true, address: 0x5008n });
  });

  it('identity domains: PGTT 100b', async () => {
    const { vtd, guest } = await linuxGuest();
    const sid = 5 << 3;
    guest.scalableDevice(sid, { pdts: 2, paside: false });
    guest.pasidEntry(sid, 0, { pgtt: 'pass-through', did: 3 });
    vtd.setRootTable(guest.root());
    expect(vtd.translate({ sid, iova: HI + 0x1234n, write: true })).toMatchObject({ ok: true, address: HI + 0x1234n });
  });
});
