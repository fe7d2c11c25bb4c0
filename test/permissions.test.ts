/**
 * First-stage permissions, table-driven: user/supervisor x read/write/execute x the PASID
 * entry's WPE, SRE, ERE x the paging entry's R/W, U/S, XD (on the leaf, or on a table entry
 * above it, where they accumulate). The expected outcome comes from the small rule table below,
 * written from docs/semantics.md §4 (SRE/ERE request checks) and §5.3/§5.5 (x86-64 paging with
 * CR0.WP = WPE, EFER.NXE = 1, no SMEP/SMAP) — not from either walker.
 *
 * Every combination runs through a full scalable-mode translation and through the bare
 * `firstStageWalk`. All combinations share one unit: 16 pages (R/W, U/S, XD x leaf/table) and
 * 8 PASID entries (WPE, SRE, ERE) over one first-stage table.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FsPte, type TranslateResult } from '../src/index.js';
import { fault, invalidateAll, KIB4, makeUnit, SID, success, type Unit } from './support/directed.js';

type Who = 'user' | 'supervisor';
type Access = 'read' | 'write' | 'exec';

interface Case {
  who: Who;
  access: Access;
  wpe: boolean;
  sre: boolean;
  ere: boolean;
  rw: boolean;
  us: boolean;
  xd: boolean;
  where: 'leaf' | 'table';
}

/** The rule table (§4, then §5.3 in order U/S, write, execute; §5.5 for the permissions of a success). */
function rule(c: Case): { fault: Parameters<typeof fault>[0]; level?: number } | { perms: string } {
  const user = c.who === 'user';
  if (!user && !c.sre) return { fault: 'SM_PASID_ENTRY_SRE' }; //      §4: supervisor request, SRE clear
  if (c.access === 'exec' && !c.ere) return { fault: 'SM_PASID_ENTRY_ERE' }; // §4: execute request, ERE clear
  if (user && !c.us) return { fault: 'FS_US', level: 1 }; //          user request, U/S clear
  if (c.access === 'write' && !c.rw && (user || c.wpe)) return { fault: 'SM_WRITE', level: 1 }; // CR0.WP = WPE
  if (c.access === 'exec' && c.xd) return { fault: 'SM_EXECUTE', level: 1 }; // NXE always on
  const write = user ? c.rw : c.rw || !c.wpe;
  return { perms: `r${write ? 'w' : ''}${c.xd ? '' : 'x'}` };
}

const B = [false, true] as const;
const CASES: (Case & { expect: string })[] = [];
for (const who of ['user', 'supervisor'] as const) {
  for (const access of ['read', 'write', 'exec'] as const) {
    for (const wpe of B) for (const sre of B) for (const ere of B) {
      for (const rw of B) for (const us of B) for (const xd of B) {
        for (const where of ['leaf', 'table'] as const) {
          const c = { who, access, wpe, sre, ere, rw, us, xd, where };
          const r = rule(c);
          CASES.push({ ...c, expect: 'perms' in r ? `ok ${r.perms}` : `${r.fault}${r.level ? ` @${r.level}` : ''}` });
        }
      }
    }
  }
}

const on = (b: boolean) => (b ? 1 : 0);
/** Page k: its own level-2 entry (2 MiB apart), so R/W, U/S, XD can sit on that table entry. */
const pageIndex = (c: Case) => on(c.rw) | (on(c.us) << 1) | (on(c.xd) << 2) | ((c.where === 'table' ? 1 : 0) << 3);
const iovaOf = (c: Case) => 0x1000_0000n + BigInt(pageIndex(c)) * (2n << 20n);
const outOf = (c: Case) => 0x2_0000_0000n + BigInt(pageIndex(c)) * 4096n;
/** PASID p: bit 0 WPE, bit 1 SRE, bit 2 ERE (+16 so PASID 0 stays unused). */
const pasidOf = (c: Case) => 16 + (on(c.wpe) | (on(c.sre) << 1) | (on(c.ere) << 2));
const OFFSET = 0x5a8n;

let u: Unit;
let root: bigint;

beforeAll(async () => {
  u = await makeUnit({ tables: 'high' });
  const pt = u.guest.firstStage();
  for (let k = 0; k < 16; k++) {
    const c = { rw: (k & 1) !== 0, us: (k & 2) !== 0, xd: (k & 4) !== 0, where: k & 8 ? 'table' : 'leaf' } as Case;
    const iova = iovaOf(c);
    const bits = { write: c.rw, user: c.us, xd: c.xd };
    if (c.where === 'leaf') {
      pt.map(iova, outOf(c), bits);
    } else {
      pt.map(iova, outOf(c)); // permissive leaf; the restriction sits on the level-2 entry
      const at = pt.entryAddress(iova, 2);
      let e = u.vtd.memory.readU64(at) & ~(FsPte.RW | FsPte.US | FsPte.XD);
      if (c.rw) e |= FsPte.RW;
      if (c.us) e |= FsPte.US;
      if (c.xd) e |= FsPte.XD;
      u.vtd.memory.writeU64(at, e);
    }
  }
  u.guest.scalableDevice(SID);
  for (let p = 0; p < 8; p++) {
    u.guest.pasidEntry(SID, 16 + p, {
      pgtt: 'first-stage', did: 1, fsptptr: pt.root, wpe: (p & 1) !== 0, sre: (p & 2) !== 0, ere: (p & 4) !== 0,
    });
  }
  u.vtd.setRootTable(u.guest.root());
  invalidateAll(u.vtd);
  root = pt.root;
});

function expected(c: Case): TranslateResult {
  const r = rule(c);
  return 'perms' in r ? success(outOf(c) + OFFSET, KIB4, r.perms) : fault(r.fault, r.level);
}

const title = '$who $access, WPE=$wpe SRE=$sre ERE=$ere, R/W=$rw U/S=$us XD=$xd on the $where -> $expect';

describe('first-stage permissions through a scalable-mode translation', () => {
  it.each(CASES)(title, (c) => {
    const r = u.vtd.translate({
      sid: SID, pasid: pasidOf(c), iova: iovaOf(c) + OFFSET,
      write: c.access === 'write', exec: c.access === 'exec', priv: c.who === 'supervisor',
    });
    expect(r).toStrictEqual(expected(c));
  });
});

describe('first-stage permissions through the bare firstStageWalk', () => {
  it.each(CASES)(title, (c) => {
    const r = u.vtd.firstStageWalk({
      root, levels: 4, iova: iovaOf(c) + OFFSET, wpe: c.wpe, sre: c.sre, ere: c.ere,
      write: c.access === 'write', exec: c.access === 'exec', priv: c.who === 'supervisor',
    });
    expect(r).toStrictEqual(expected(c));
  });
});

describe('the rule table itself', () => {
  it('covers 2 x 3 x 2^6 x 2 = 768 combinations, each outcome at least once', () => {
    expect(CASES).toHaveLength(768);
    const outcomes = new Set(CASES.map((c) => c.expect.split(' ')[0]));
    expect([...outcomes].sort()).toEqual(['FS_US', 'SM_EXECUTE', 'SM_PASID_ENTRY_ERE', 'SM_PASID_ENTRY_SRE', 'SM_WRITE', 'ok']);
  });
});
