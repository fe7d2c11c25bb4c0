/**
 * vtd-emu's file formats (src/cli/formats.ts): round trips, the byte layout the README
 * documents, native_walk's VTDIMG01/VTDREQ01, and a one-line FormatError for every kind of
 * damage.
 */
import { describe, expect, it } from 'vitest';
import { NO_PASID } from '../src/batch.js';
import { DEMO_SID, demoImage, demoRequests, demoUnit } from '../src/cli/demo.js';
import { FormatError } from '../src/cli/errors.js';
import {
  IMAGE_MAGIC, nativeToGuestImage, nativeToRequestList, newRequestList, readImage, readRequests, REQUEST_MAGIC, writeImage, writeRequests,
  type GuestImage,
} from '../src/cli/formats.js';
import { imageFromUnit, unitFromImage } from '../src/cli/image.js';
import { DEFAULT_CAPS } from '../src/spec/caps.js';

const le64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);
const le32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const put32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
const put64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);

function smallImage(): GuestImage {
  const page = new Uint8Array(4096).fill(0xab);
  return {
    regions: [{ base: 0n, size: 1n << 20n }, { base: 1n << 32n, size: 1n << 16n }],
    mode: 'legacy', rootTable: 0x3000n, caps: { ...DEFAULT_CAPS, nest: true, haw: 46 },
    pages: [{ gpa: 0x5000n, bytes: page }, { gpa: (1n << 32n) + 0x1000n, bytes: page }],
  };
}

/** One-line FormatError whose message contains `what`. */
function rejects(f: () => unknown, what: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a FormatError matching ${what}`).toBeInstanceOf(FormatError);
  const m = (err as Error).message;
  expect(m).toMatch(what);
  expect(m).not.toContain('\n');
}

describe('vtd-emu image (VTDEMUIM)', () => {
  it('has the documented layout', () => {
    const b = writeImage(smallImage());
    expect(new TextDecoder().decode(b.subarray(0, 8))).toBe(IMAGE_MAGIC);
    expect(le32(b, 8)).toBe(1); // version
    expect(le32(b, 12)).toBe(64); // header size
    expect(le64(b, 16)).toBe(0x3000n); // root table
    expect(le32(b, 24)).toBe(1); // mode: legacy
    expect(le32(b, 28)).toBe(2); // regions
    expect(le32(b, 32)).toBe(16); // caps record size
    expect(le32(b, 36)).toBe(2); // pages
    expect(le64(b, 64)).toBe(0n);
    expect(le64(b, 72)).toBe(1n << 20n);
    expect(le64(b, 80)).toBe(1n << 32n);
    const caps = 96;
    expect(le32(b, caps) & 0x1f).toBe(0b11111); // smts fsts ssts pt nest
    expect([...b.subarray(caps + 4, caps + 9)]).toEqual([3, 0b0110, 48, 46, 19]); // sslps sagaw mgaw haw pss
    expect(le64(b, caps + 16)).toBe(0x5000n);
    expect(b[caps + 16 + 8]).toBe(0xab);
    expect(b.length).toBe(caps + 16 + 2 * 4104);
  });

  it('round-trips', () => {
    const img = smallImage();
    const f = readImage(writeImage(img), 'x.vtdimg');
    expect(f.format).toBe('vtd-emu');
    if (f.format !== 'vtd-emu') return;
    expect(f.image.regions).toEqual(img.regions);
    expect(f.image).toMatchObject({ mode: 'legacy', rootTable: 0x3000n, caps: img.caps });
    expect(f.image.pages.map((p) => p.gpa)).toEqual([0x5000n, (1n << 32n) + 0x1000n]);
    expect(f.image.pages[1]!.bytes).toEqual(img.pages[1]!.bytes);
  });

  it('captures a unit and loads it back: same translations', async () => {
    const a = await demoUnit();
    const f = readImage(writeImage(imageFromUnit(a)), 'demo');
    if (f.format !== 'vtd-emu') throw new Error('format');
    const b = await unitFromImage(f.image);
    const rl = demoRequests(500, 3);
    for (let i = 0; i < rl.n; i++) {
      const req = { sid: rl.sid[i]!, iova: rl.iova[i]!, write: (rl.flags[i]! & 1) === 1, ...(rl.pasid[i] === NO_PASID ? {} : { pasid: rl.pasid[i]! }) };
      expect(b.translate(req)).toEqual(a.translate(req));
    }
  });

  it('rejects damaged files with one line', async () => {
    const good = writeImage(smallImage());
    const mod = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b;
    };
    rejects(() => readImage(new Uint8Array(0), 'e'), /e: empty file/);
    rejects(() => readImage(writeRequests(newRequestList(1)), 'r'), /not an image file \(a vtd-emu request list/);
    rejects(() => readImage(new TextEncoder().encode('hello world, not an image'), 'h'), /magic 'hello wo'/);
    rejects(() => readImage(mod((b) => put32(b, 8, 2)), 'v'), /unsupported VTDEMUIM version 2/);
    rejects(() => readImage(mod((b) => put32(b, 12, 8)), 'h'), /header size 8 is below the minimum 64/);
    rejects(() => readImage(good.subarray(0, good.length - 1), 't'), /truncated/);
    rejects(() => readImage(new Uint8Array([...good, 0]), 't'), /1 trailing bytes/);
    rejects(() => readImage(mod((b) => put32(b, 24, 7)), 'm'), /mode 7/);
    rejects(() => readImage(mod((b) => put32(b, 28, 9)), 'r'), /9 RAM regions/);
    rejects(() => readImage(mod((b) => put64(b, 64, 0x800n)), 'a'), /region 0 base 0x800 is not 4 KiB aligned/);
    rejects(() => readImage(mod((b) => put64(b, 80, 0x10000n)), 'o'), /overlap/);
    rejects(() => readImage(mod((b) => put32(b, 96, 1 << 20)), 'c'), /caps flags/);
    rejects(() => readImage(mod((b) => { b[96 + 7] = 99; }), 'c'), /bad caps record: caps.haw/);
    rejects(() => readImage(mod((b) => put64(b, 112, 0x5008n)), 'p'), /page record 0: GPA 0x5008 is not 4 KiB aligned/);
    rejects(() => readImage(mod((b) => put64(b, 112, 0x200000n)), 'p'), /outside guest RAM/);
    rejects(() => readImage(mod((b) => put64(b, 112 + 4104, 0x5000n)), 'p'), /appears twice/);
    rejects(() => readImage(mod((b) => { b[50] = 1; }), 'z'), /reserved header byte at offset 50/);
    rejects(() => readImage(mod((b) => put64(b, 16, 0x3004n)), 'z'), /root table 0x3004 is not 4 KiB aligned/);
  });
});

describe('vtd-emu request list (VTDEMURQ)', () => {
  it('has the documented layout and round-trips', () => {
    const rl = newRequestList(2);
    rl.sid.set([0x18, 0xffff]);
    rl.pasid.set([5, NO_PASID]);
    rl.iova.set([0x7f00_0000_1234n, 0xffff_ffff_ffff_fff8n]);
    rl.flags.set([1, 6]);
    const b = writeRequests(rl);
    expect(new TextDecoder().decode(b.subarray(0, 8))).toBe(REQUEST_MAGIC);
    expect([le32(b, 8), le32(b, 12), le32(b, 16), le32(b, 20)]).toEqual([1, 32, 2, 16]);
    expect(le64(b, 32)).toBe(0x7f00_0000_1234n);
    expect(le32(b, 40)).toBe(5);
    expect(b[44]! | (b[45]! << 8)).toBe(0x18);
    expect(b[46]).toBe(1);
    expect(le32(b, 48 + 8)).toBe(NO_PASID);
    expect(b.length).toBe(64);
    const f = readRequests(b, 'r');
    if (f.format !== 'vtd-emu') throw new Error('format');
    expect(f.requests).toEqual(rl);
  });

  it('rejects damaged files with one line', () => {
    const rl = newRequestList(2);
    const good = writeRequests(rl);
    const mod = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b;
    };
    rejects(() => readRequests(writeImage(smallImage()), 'i'), /not a request list \(a vtd-emu image/);
    rejects(() => readRequests(good.subarray(0, 40), 't'), /truncated/);
    rejects(() => readRequests(mod((b) => put32(b, 40, 0x100000)), 'p'), /request 0: PASID 0x100000/);
    rejects(() => readRequests(mod((b) => { b[46] = 8; }), 'f'), /request 0: flags 0x8/);
    rejects(() => readRequests(mod((b) => { b[47] = 1; }), 'f'), /request 0: reserved byte/);
    rejects(() => readRequests(mod((b) => put32(b, 20, 8)), 's'), /record size 8/);
    rejects(() => readRequests(mod((b) => put32(b, 16, 0xffff_ffff)), 'n'), /at most 16777216/);
  });
});

/** A minimal native_walk image: 64 MiB, directory at 1 MiB with one entry, no tables behind it. */
function nativeImage(pages: { gpa: bigint; fill: number }[], memSize = 64n << 20n): Uint8Array {
  const n = pages.length;
  const b = new Uint8Array(64 + n * (8 + 4096));
  b.set(new TextEncoder().encode('VTDIMG01'));
  put32(b, 8, 1);
  put32(b, 12, 64);
  put64(b, 16, memSize);
  put64(b, 24, 0x100000n);
  put32(b, 32, n);
  put32(b, 36, 1); // 5-level
  pages.forEach((p, i) => {
    put64(b, 64 + 8 * i, p.gpa);
    b.fill(p.fill, 64 + 8 * n + 4096 * i, 64 + 8 * n + 4096 * (i + 1));
  });
  return b;
}

function nativeRequests(reqs: { iova: bigint; pasid: number; write: boolean; expected: bigint }[]): Uint8Array {
  const k = reqs.length;
  const b = new Uint8Array(64 + 24 * k);
  b.set(new TextEncoder().encode('VTDREQ01'));
  put32(b, 8, 1);
  put32(b, 12, 64);
  put32(b, 16, k);
  put32(b, 20, 1);
  let x = 0n;
  reqs.forEach((r, i) => {
    put64(b, 64 + 16 * i, r.iova);
    put32(b, 64 + 16 * i + 8, r.pasid);
    put32(b, 64 + 16 * i + 12, r.write ? 1 : 0);
    put64(b, 64 + 16 * k + 8 * i, r.expected);
    x ^= r.expected;
  });
  put64(b, 24, x);
  new TextEncoder().encodeInto('rand', b.subarray(32, 64));
  return b;
}

describe("native_walk's files (VTDIMG01 / VTDREQ01)", () => {
  it('reads an image and adds a root table and a context entry for the chosen device in free pages', () => {
    const f = readImage(nativeImage([{ gpa: 0x1000n, fill: 0 }, { gpa: 0x100000n, fill: 0 }]), 'n.img');
    if (f.format !== 'VTDIMG01') throw new Error('format');
    expect(f.native).toMatchObject({ memSize: 64n << 20n, dirGpa: 0x100000n, levels: 5, bigPages: false });
    const sid = (1 << 8) | (0x1f << 3) | 7; // 01:1f.7, devfn 0xff: the upper half of the root entry
    const g = nativeToGuestImage(f.native, sid);
    expect(g).toMatchObject({ mode: 'scalable', rootTable: 0x2000n, contextTable: 0x3000n, regions: [{ base: 0n, size: 64n << 20n }] });
    const root = g.pages.find((p) => p.gpa === 0x2000n)!.bytes;
    expect(le64(root, 16 + 8)).toBe(0x3000n | 1n); // bus 1, UP/UCTP
    const ctx = g.pages.find((p) => p.gpa === 0x3000n)!.bytes;
    const ce = le64(ctx, 0x7f * 32);
    expect(ce & ~0xfffn).toBe(0x100000n);
    expect(ce & 0xfffn).toBe(1n | (1n << 3n) | (7n << 9n)); // P, PASIDE, PDTS 7
  });

  it('reads requests with expected results, for one device', () => {
    const f = readRequests(nativeRequests([
      { iova: 0x1000n, pasid: 3, write: true, expected: 0x5000n },
      { iova: 0x2000n, pasid: 4, write: false, expected: 0xffff_ffff_ffff_ff01n },
    ]), 'n.req');
    if (f.format !== 'VTDREQ01') throw new Error('format');
    expect(f.native.pattern).toBe('rand');
    expect([...f.native.expected]).toEqual([0x5000n, 0xffff_ffff_ffff_ff01n]);
    const rl = nativeToRequestList(f.native, DEMO_SID);
    expect([...rl.sid]).toEqual([DEMO_SID, DEMO_SID]);
    expect([...rl.flags]).toEqual([1, 0]);
  });

  it('rejects damaged native files with one line', () => {
    rejects(() => readImage(nativeImage([{ gpa: 0x1800n, fill: 1 }]), 'a'), /page 0: GPA 0x1800/);
    rejects(() => readImage(nativeImage([], 0x1234n), 'm'), /not a non-zero multiple of 4 KiB/);
    rejects(() => readImage(nativeImage([{ gpa: 0x1000n, fill: 1 }]).subarray(0, 100), 't'), /truncated/);
    const r = nativeRequests([{ iova: 0n, pasid: 1, write: false, expected: 7n }]);
    put64(r, 24, 8n);
    rejects(() => readRequests(r, 'x'), /XOR of the expected results 0x7 does not match the header's 0x8/);
    const noexp = nativeRequests([]);
    put32(noexp, 20, 0);
    rejects(() => readRequests(noexp, 'x'), /no expected results/);
  });
});

describe('the demo guest', () => {
  it('is deterministic', async () => {
    expect(writeImage(await demoImage())).toEqual(writeImage(await demoImage()));
    expect(writeRequests(demoRequests(100, 5))).toEqual(writeRequests(demoRequests(100, 5)));
    expect(writeRequests(demoRequests(100, 5))).not.toEqual(writeRequests(demoRequests(100, 6)));
  });
});
