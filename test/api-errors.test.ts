/**
 * API misuse gets typed exceptions (README: "Faults are results, never exceptions. Exceptions
 * are for API misuse only, and typed"), and a rejected call changes nothing about the unit:
 * the programmed root table, guest memory (tables and A/D bits) and every translation stay as
 * they were.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CapsError, MAX_GUEST_RAM, Vtd, VtdArgumentError, VtdError, VtdMemoryError, type TranslateRequest,
} from '../src/index.js';
import { fsFixture, HIGH, HOLE, LOW, OFF, type FsFixture } from './support/directed.js';

let f: FsFixture;
let probes: TranslateRequest[];

interface Snapshot {
  root: unknown;
  low: Buffer;
  high: Buffer;
  results: unknown[];
}

beforeAll(async () => {
  f = await fsFixture({ tables: 'high' });
  // Settle A/D first, so that the snapshot is the state any later valid request leaves alone.
  f.tr({ write: true });
  probes = [f.req, { ...f.req, write: true }, { ...f.req, iova: 1n << 47n }, { ...f.req, pasid: 5 }, { sid: 0, iova: 0n }];
});

function snapshot(): Snapshot {
  return {
    root: f.vtd.root,
    low: Buffer.from(f.vtd.memory.view(LOW.base, Number(LOW.size))),
    high: Buffer.from(f.vtd.memory.view(HIGH.base, Number(HIGH.size))),
    results: probes.map((r) => f.vtd.translate(r)),
  };
}

/** Runs `fn`, expects it to throw `type`, and the unit to be exactly as before. */
function rejectsWithoutEffect(fn: () => unknown, type: new (...a: never[]) => Error): void {
  const before = snapshot();
  expect(fn).toThrow(type);
  const after = snapshot();
  expect(after.root).toStrictEqual(before.root);
  expect(after.results).toStrictEqual(before.results);
  expect(after.low.equals(before.low), 'RAM below 4 GiB unchanged').toBe(true);
  expect(after.high.equals(before.high), 'RAM above 4 GiB unchanged').toBe(true);
}

describe('translate', () => {
  it.each([-1, 0x1_0000, 1.5, Number.NaN, '3' as unknown as number])('sid %s is a VtdArgumentError', (sid) => {
    rejectsWithoutEffect(() => f.vtd.translate({ ...f.req, sid }), VtdArgumentError);
  });

  it.each([0x10_0000, -1, 2.5, 0xffff_ffff])('pasid %s (beyond 0xfffff, or not an integer) is a VtdArgumentError', (pasid) => {
    rejectsWithoutEffect(() => f.vtd.translate({ ...f.req, pasid }), VtdArgumentError);
  });

  it.each([
    ['a number', 0x1000 as unknown as bigint], ['a string', '0x1000' as unknown as bigint], ['undefined', undefined as unknown as bigint],
    ['negative', -1n], ['2^64', 1n << 64n], ['2^64 + 0x123', (1n << 64n) + 0x123n],
  ])('iova %s is a VtdArgumentError', (_what, iova) => {
    rejectsWithoutEffect(() => f.vtd.translate({ ...f.req, iova }), VtdArgumentError);
  });

  it('the limits themselves are valid requests: sid 0xffff, pasid 0xfffff, iova 2^64 - 1', () => {
    expect(() => f.vtd.translate({ sid: 0xffff, pasid: 0xfffff, iova: (1n << 64n) - 1n })).not.toThrow();
  });

  it('VtdArgumentError is a VtdError (and an Error)', () => {
    try {
      f.vtd.translate({ ...f.req, sid: -1 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VtdError);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).name).toBe('VtdArgumentError');
    }
  });
});

describe('setRootTable', () => {
  it.each([0x1001n, HIGH.base + 0x800n, 0x8n])('an unaligned root table address 0x%s is a VtdArgumentError and keeps the old root', (gpa) => {
    rejectsWithoutEffect(() => f.vtd.setRootTable(gpa), VtdArgumentError);
    expect(f.tr()).toMatchObject({ ok: true, address: f.out + OFF });
  });

  it.each([-4096n, 1n << 64n, -4096])('an address out of range (%s) is a VtdArgumentError', (gpa) => {
    rejectsWithoutEffect(() => f.vtd.setRootTable(gpa as bigint), VtdArgumentError);
  });

  it('a scalable-mode root table on a unit without caps.smts is a VtdArgumentError', async () => {
    const vtd = await Vtd.create({ memory: { size: 1 << 20 }, caps: { smts: false } });
    expect(() => vtd.setRootTable(0x1000n, { scalable: true })).toThrow(VtdArgumentError);
    expect(vtd.root).toBeUndefined();
    expect(vtd.translate({ sid: 1, iova: 0x1234n })).toMatchObject({ ok: true, address: 0x1234n }); // still untranslated
  });
});

describe('firstStageWalk', () => {
  const walk = () => ({ root: f.pt.root, levels: 4 as const, iova: f.iova + OFF });

  it.each([3, 6, 0])('levels %i is a VtdArgumentError', (levels) => {
    rejectsWithoutEffect(() => f.vtd.firstStageWalk({ ...walk(), levels: levels as 4 }), VtdArgumentError);
  });

  it('an unaligned root is a VtdArgumentError', () => {
    rejectsWithoutEffect(() => f.vtd.firstStageWalk({ ...walk(), root: f.pt.root + 8n }), VtdArgumentError);
  });

  it('5 levels without caps.fs5lp is a VtdArgumentError', async () => {
    const g = await fsFixture({ caps: { fs5lp: false } });
    expect(() => g.vtd.firstStageWalk({ root: g.pt.root, levels: 5, iova: 0n })).toThrow(VtdArgumentError);
    expect(g.vtd.firstStageWalk({ root: g.pt.root, levels: 4, iova: g.iova })).toMatchObject({ ok: true });
  });

  it('an iova that is not a 64-bit unsigned bigint is a VtdArgumentError', () => {
    rejectsWithoutEffect(() => f.vtd.firstStageWalk({ ...walk(), iova: -1n }), VtdArgumentError);
    rejectsWithoutEffect(() => f.vtd.firstStageWalk({ ...walk(), iova: 1n << 64n }), VtdArgumentError);
  });

  it('a root outside RAM is not misuse: it is the fault 0x73', () => {
    expect(f.vtd.firstStageWalk({ ...walk(), root: HOLE })).toStrictEqual({
      ok: false, fault: { reason: 0x73, name: 'FS_FSPTPTR_ACCESS', level: 4 },
    });
  });
});

describe('Vtd.create', () => {
  it('an unknown capability is a CapsError', async () => {
    await expect(Vtd.create({ caps: { bogus: true } as never })).rejects.toThrow(CapsError);
    await expect(Vtd.create({ caps: { SAGAW: 4 } as never })).rejects.toThrow(/unknown capability 'SAGAW'/);
  });

  it.each([
    ['haw 31', { haw: 31 }], ['haw 53', { haw: 53 }], ['haw 47.5', { haw: 47.5 }], ['mgaw 29', { mgaw: 29 }],
    ['mgaw 58', { mgaw: 58 }], ['sagaw 0b10000', { sagaw: 0b1_0000 }], ['sagaw -1', { sagaw: -1 }], ['sslps 4', { sslps: 4 }],
    ['pss 20', { pss: 20 }], ['nest without fsts', { nest: true, fsts: false }], ['nest without ssts', { nest: true, ssts: false }],
  ] as const)('caps out of range (%s) is a CapsError', async (_what, caps) => {
    await expect(Vtd.create({ caps })).rejects.toThrow(CapsError);
  });

  it('CapsError is a TypeError', async () => {
    await expect(Vtd.create({ caps: { haw: 99 } })).rejects.toBeInstanceOf(TypeError);
  });

  it('memory.size together with memory.regions is a VtdArgumentError', async () => {
    await expect(Vtd.create({ memory: { size: 1 << 20, regions: [{ base: 0n, size: 1 << 20 }] } })).rejects.toThrow(VtdArgumentError);
  });

  it.each([
    ['an unaligned base', [{ base: 0x800n, size: 4096 }]],
    ['a size not a multiple of 4 KiB', [{ base: 0n, size: 4097 }]],
    ['overlapping regions', [{ base: 0n, size: 8192 }, { base: 4096n, size: 4096 }]],
    ['more than 8 regions', Array.from({ length: 9 }, (_, i) => ({ base: BigInt(i) << 20n, size: 4096 }))],
    ['more than the RAM ceiling', [{ base: 0n, size: MAX_GUEST_RAM + 4096 }]],
    ['no region', []],
  ] as const)('memory.regions with %s is a VtdArgumentError', async (_what, regions) => {
    await expect(Vtd.create({ memory: { regions: regions as never } })).rejects.toThrow(VtdArgumentError);
  });
});

describe('createBatch, translateBatch and host memory access', () => {
  it.each([0, -1, 1.5, (1 << 24) + 1])('createBatch(%s) is a VtdArgumentError', (n) => {
    rejectsWithoutEffect(() => f.vtd.createBatch(n), VtdArgumentError);
  });

  it('a rejected translateBatch writes no result', () => {
    const batch = f.vtd.createBatch(2);
    batch.sid.set([f.sid, f.sid]);
    batch.pasid.set([f.pasid, f.pasid]);
    batch.iova.set([f.iova, f.iova]);
    batch.fault.fill(0xee);
    rejectsWithoutEffect(() => f.vtd.translateBatch(batch, 3), VtdArgumentError);
    expect([...batch.fault]).toEqual([0xee, 0xee]);
  });

  it('host reads and writes outside RAM are VtdMemoryError, and write nothing', () => {
    rejectsWithoutEffect(() => f.vtd.memory.readU64(HOLE), VtdMemoryError);
    rejectsWithoutEffect(() => f.vtd.memory.writeU64(HOLE, 1n), VtdMemoryError);
    // Straddling the end of a region: nothing of it is written.
    rejectsWithoutEffect(() => f.vtd.memory.write(LOW.base + LOW.size - 4n, new Uint8Array(8).fill(0xff)), VtdMemoryError);
  });
});
