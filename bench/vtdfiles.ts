/**
 * Loaders for the VTDIMG01 / VTDREQ01 files written by `native_walk --dump` (a TypeScript port
 * of the baseline's vtdfiles.mjs; formats in /work/shared/perf-baseline/README.md and
 * bench/README.md).
 */
import { readFileSync } from 'node:fs';

export interface VtdImage {
  memSize: number;
  dirGpa: bigint;
  levels: 4 | 5;
  bigPages: boolean;
  seed: bigint;
  /** GPAs of the non-zero 4 KiB pages and their contents. */
  pages: { gpa: bigint; bytes: Uint8Array }[];
}

export interface VtdRequests {
  n: number;
  xor: bigint;
  pattern: string;
  iova: BigUint64Array;
  pasid: Uint32Array;
  /** Bit 0: write. */
  flags: Uint32Array;
  /** GPA, or 0xFFFFFFFFFFFFFF00 | native fault code. */
  expected: BigUint64Array;
}

export const NATIVE_FAULT_BASE = 0xffff_ffff_ffff_ff00n;

function magic(buf: Buffer, want: string, path: string): void {
  const m = buf.subarray(0, 8).toString('latin1');
  if (m !== want) throw new Error(`${path}: bad magic '${m}', expected ${want}`);
}

export function loadImage(path: string): VtdImage {
  const buf = readFileSync(path);
  magic(buf, 'VTDIMG01', path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hsize = dv.getUint32(12, true);
  const memSize = Number(dv.getBigUint64(16, true));
  const dirGpa = dv.getBigUint64(24, true);
  const npages = dv.getUint32(32, true);
  const flags = dv.getUint32(36, true);
  const seed = dv.getBigUint64(40, true);
  const dataOff = hsize + 8 * npages;
  if (buf.byteLength < dataOff + 4096 * npages) throw new Error(`${path}: truncated (${npages} pages announced)`);
  const pages: VtdImage['pages'] = [];
  for (let i = 0; i < npages; i++) {
    const gpa = dv.getBigUint64(hsize + 8 * i, true);
    pages.push({ gpa, bytes: buf.subarray(dataOff + 4096 * i, dataOff + 4096 * (i + 1)) });
  }
  return { memSize, dirGpa, levels: flags & 1 ? 5 : 4, bigPages: (flags & 2) !== 0, seed, pages };
}

export function loadRequests(path: string): VtdRequests {
  const buf = readFileSync(path);
  magic(buf, 'VTDREQ01', path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hsize = dv.getUint32(12, true);
  const n = dv.getUint32(16, true);
  const flags = dv.getUint32(20, true);
  if (!(flags & 1)) throw new Error(`${path}: no expected results in the file`);
  const xor = dv.getBigUint64(24, true);
  const pattern = buf.subarray(32, 64).toString('latin1').replace(/\0.*$/s, '');
  if (buf.byteLength < hsize + 24 * n) throw new Error(`${path}: truncated (${n} requests announced)`);
  // Aligned copies, then plain 32-bit copies (no BigInt per request).
  const req = new Uint32Array(4 * n);
  new Uint8Array(req.buffer).set(buf.subarray(hsize, hsize + 16 * n));
  const exp = new Uint32Array(2 * n);
  new Uint8Array(exp.buffer).set(buf.subarray(hsize + 16 * n, hsize + 24 * n));
  const iova = new BigUint64Array(n);
  const iova32 = new Uint32Array(iova.buffer);
  const pasid = new Uint32Array(n);
  const rflags = new Uint32Array(n);
  let xlo = 0;
  let xhi = 0;
  for (let i = 0; i < n; i++) {
    iova32[2 * i] = req[4 * i]!;
    iova32[2 * i + 1] = req[4 * i + 1]!;
    pasid[i] = req[4 * i + 2]!;
    rflags[i] = req[4 * i + 3]!;
    xlo ^= exp[2 * i]!;
    xhi ^= exp[2 * i + 1]!;
  }
  const expected = new BigUint64Array(exp.buffer);
  const x = (BigInt(xhi >>> 0) << 32n) | BigInt(xlo >>> 0);
  if (x !== xor) throw new Error(`${path}: XOR of expected results 0x${x.toString(16)} != header 0x${xor.toString(16)}`);
  return { n, xor, pattern, iova, pasid, flags: rflags, expected };
}
