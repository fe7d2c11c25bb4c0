// Builds scalable-mode tables in guest memory and translates a few DMA requests.
// Run: npm run demo
import { Vtd, GuestBuilder } from '../dist/index.js';

const vtd = await Vtd.create({ memory: { size: 64 << 20 } });
const guest = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 32n << 20n }]);
const sid = (0 << 8) | (3 << 3); // 00:03.0
const pgtable = guest.firstStage({ levels: 4 });
pgtable.map(0x7f00_0000_0000n, 0x20_0000n, { size: 4096 });
pgtable.map(0x4000_0000n, 0x4000_0000n, { size: 2 << 20, write: false });
guest.scalableDevice(sid, { pdts: 0 });
guest.pasidEntry(sid, 0, { pgtt: 'first-stage', did: 1, fsptptr: pgtable.root, levels: 4 });
vtd.setRootTable(guest.root());

const show = (what, r) =>
  console.log(what.padEnd(44), r.ok ? `-> 0x${r.address.toString(16)} (${r.pageSize} B page, ${r.write ? 'RW' : 'RO'})`
    : `fault 0x${r.fault.reason.toString(16)} ${r.fault.name}${r.fault.level ? ` at level ${r.fault.level}` : ''}`);
show('read  0x7f0000000123', vtd.translate({ sid, iova: 0x7f00_0000_0123n }));
show('write 0x7f0000000123', vtd.translate({ sid, iova: 0x7f00_0000_0123n, write: true }));
show('read  0x40012345 (2 MiB page)', vtd.translate({ sid, iova: 0x4001_2345n }));
show('write 0x40012345 (read-only)', vtd.translate({ sid, iova: 0x4001_2345n, write: true }));
show('read  0x1000 (unmapped)', vtd.translate({ sid, iova: 0x1000n }));
show('read  0x800000000000 (non-canonical)', vtd.translate({ sid, iova: 0x8000_0000_0000n }));
show('read  with PASID 5 (no PASID entry)', vtd.translate({ sid, pasid: 5, iova: 0x1000n }));
