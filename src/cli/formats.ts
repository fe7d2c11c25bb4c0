/**
 * vtd-emu's file formats — a guest memory image and a request list — with readers and
 * writers, plus readers for native_walk's VTDIMG01 / VTDREQ01 files. Everything is
 * little-endian; every header starts with an 8-byte magic, a u32 version and a u32 header
 * size (readers skip header bytes they do not know, up to that size). Readers validate every
 * field and throw FormatError with a one-line message naming the file.
 *
 * Image, `VTDEMUIM` version 1 (`.vtdimg`):
 *   0   magic "VTDEMUIM"
 *   8   u32 version = 1
 *   12  u32 header size H (>= 64)
 *   16  u64 root-table GPA (RTADDR; 4 KiB aligned; 0 when mode = 0)
 *   24  u32 mode: 0 translation off (TE = 0), 1 legacy (TTM 00b), 2 scalable (TTM 01b)
 *   28  u32 R: RAM regions, 1..8
 *   32  u32 C: caps record size, >= 16
 *   36  u32 N: page records
 *   40  24 reserved bytes (0)
 *   H           R x { u64 base, u64 size }: guest RAM regions (4 KiB aligned, disjoint)
 *   H + 16R     caps record (C bytes): u32 flags (bit 0 smts, 1 fsts, 2 ssts, 3 pt, 4 nest,
 *               5 fs5lp, 6 fs1gp, 7 rps, 8 ers, 9 srs, 10 dt, 11 cachingMode; others 0),
 *               u8 sslps, u8 sagaw, u8 mgaw, u8 haw, u8 pss, 7 reserved bytes (0)
 *   H+16R+C     N x { u64 GPA (4 KiB aligned, inside one region, no duplicates), 4096 bytes }
 *   RAM not covered by a page record is zero. The file ends after the last record.
 *
 * Request list, `VTDEMURQ` version 1 (`.vtdreq`):
 *   0   magic "VTDEMURQ"
 *   8   u32 version = 1
 *   12  u32 header size H (>= 32)
 *   16  u32 K: requests
 *   20  u32 record size S (>= 16)
 *   24  8 reserved bytes (0)
 *   H   K x S bytes: { u64 iova, u32 pasid (0xFFFFFFFF = request without PASID, else < 2^20),
 *                      u16 sid (bus << 8 | devfn), u8 flags (bit 0 write, 1 execute,
 *                      2 supervisor; others 0), u8 reserved (0) }
 */
import { NO_PASID } from '../batch.js';
import { encodeScalableContextEntry } from '../guest/context.js';
import { MAX_GUEST_RAM } from '../memory/guest-memory.js';
import { CapsError, DEFAULT_CAPS, resolveCaps, type Caps } from '../spec/caps.js';
import { FormatError } from './errors.js';

export const IMAGE_MAGIC = 'VTDEMUIM';
export const REQUEST_MAGIC = 'VTDEMURQ';
export const NATIVE_IMAGE_MAGIC = 'VTDIMG01';
export const NATIVE_REQUEST_MAGIC = 'VTDREQ01';
export const FORMAT_VERSION = 1;
export const IMAGE_HEADER_SIZE = 64;
export const CAPS_RECORD_SIZE = 16;
export const REQUEST_HEADER_SIZE = 32;
export const REQUEST_RECORD_SIZE = 16;
export const PAGE_RECORD_SIZE = 8 + 4096;
/** Regions the core supports (GuestMemory's limit). */
export const MAX_REGIONS = 8;
/** Largest request list the tools load (a TranslationBatch holds at most 2^24 requests). */
export const MAX_REQUESTS = 1 << 24;
/** native_walk's expected-result encoding of a fault: 0xFFFFFFFFFFFFFF00 | code. */
export const NATIVE_FAULT_BASE = 0xffff_ffff_ffff_ff00n;

export type TranslationMode = 'off' | 'legacy' | 'scalable';
const MODES: TranslationMode[] = ['off', 'legacy', 'scalable'];

export interface ImagePage {
  gpa: bigint;
  /** 4096 bytes. */
  bytes: Uint8Array;
}

/** A guest as the IOMMU sees it: RAM regions, the programmed root table, capabilities, RAM contents. */
export interface GuestImage {
  regions: { base: bigint; size: bigint }[];
  mode: TranslationMode;
  /** RTADDR (ignored when mode is 'off'). */
  rootTable: bigint;
  caps: Caps;
  /** Non-zero 4 KiB pages; everything else is zero. */
  pages: ImagePage[];
}

/** A native_walk image: one RAM region at GPA 0, a PASID directory of 2^14 entries, no root or context table. */
export interface NativeImage {
  memSize: bigint;
  dirGpa: bigint;
  levels: 4 | 5;
  bigPages: boolean;
  seed: bigint;
  pages: ImagePage[];
}

export type ImageFile = { format: 'vtd-emu'; image: GuestImage } | { format: 'VTDIMG01'; native: NativeImage };

/** Requests as struct-of-arrays (a TranslationBatch's input layout). */
export interface RequestList {
  n: number;
  sid: Uint16Array;
  /** NO_PASID (0xFFFFFFFF) for a request without PASID. */
  pasid: Uint32Array;
  iova: BigUint64Array;
  /** Bit 0 write, 1 execute, 2 supervisor. */
  flags: Uint8Array;
}

/** native_walk's request file: no source-id (one device), and the results native_walk computed. */
export interface NativeRequests {
  n: number;
  pattern: string;
  pasid: Uint32Array;
  iova: BigUint64Array;
  /** Bit 0 write. */
  flags: Uint8Array;
  /** GPA, or NATIVE_FAULT_BASE | native fault code. */
  expected: BigUint64Array;
}

export type RequestFile = { format: 'vtd-emu'; requests: RequestList } | { format: 'VTDREQ01'; native: NativeRequests };

export function newRequestList(n: number): RequestList {
  return { n, sid: new Uint16Array(n), pasid: new Uint32Array(n), iova: new BigUint64Array(n), flags: new Uint8Array(n) };
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function magicOf(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < Math.min(8, bytes.length); i++) {
    const c = bytes[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s;
}

/** What a magic says the file is, for errors such as "this is a request list, not an image". */
function describeMagic(m: string): string {
  switch (m) {
    case IMAGE_MAGIC: return 'a vtd-emu image';
    case REQUEST_MAGIC: return 'a vtd-emu request list';
    case NATIVE_IMAGE_MAGIC: return 'a native_walk image';
    case NATIVE_REQUEST_MAGIC: return 'a native_walk request file';
    default: return `magic '${m}'`;
  }
}

function checkHeader(bytes: Uint8Array, name: string, minHeader: number, kind: string): { dv: DataView; hsize: number } {
  if (bytes.length < 16) throw new FormatError(`${name}: too short for ${kind} (${bytes.length} bytes)`);
  const dv = view(bytes);
  const version = dv.getUint32(8, true);
  const hsize = dv.getUint32(12, true);
  if (version !== FORMAT_VERSION) throw new FormatError(`${name}: unsupported ${magicOf(bytes)} version ${version} (this vtd-emu reads version ${FORMAT_VERSION})`);
  if (hsize < minHeader) throw new FormatError(`${name}: header size ${hsize} is below the minimum ${minHeader}`);
  if (hsize > bytes.length) throw new FormatError(`${name}: truncated header (header size ${hsize}, file ${bytes.length} bytes)`);
  return { dv, hsize };
}

function checkZero(bytes: Uint8Array, from: number, to: number, name: string, what: string): void {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0) throw new FormatError(`${name}: ${what} byte at offset ${i} is ${hex(bytes[i]!)}, must be 0`);
  }
}

function checkSize(bytes: Uint8Array, want: number, name: string, what: string): void {
  if (bytes.length < want) throw new FormatError(`${name}: truncated: ${what} need ${want} bytes, file has ${bytes.length}`);
  if (bytes.length > want) throw new FormatError(`${name}: ${bytes.length - want} trailing bytes after ${what} (expected ${want} bytes)`);
}

// ---------------------------------------------------------------- caps record

const CAP_BITS: [keyof Caps, number][] = [
  ['smts', 0], ['fsts', 1], ['ssts', 2], ['pt', 3], ['nest', 4], ['fs5lp', 5], ['fs1gp', 6],
  ['rps', 7], ['ers', 8], ['srs', 9], ['dt', 10], ['cachingMode', 11],
];

function encodeCaps(c: Caps): Uint8Array {
  const out = new Uint8Array(CAPS_RECORD_SIZE);
  const dv = view(out);
  let flags = 0;
  for (const [k, bit] of CAP_BITS) if (c[k]) flags |= 1 << bit;
  dv.setUint32(0, flags >>> 0, true);
  out.set([c.sslps, c.sagaw, c.mgaw, c.haw, c.pss], 4);
  return out;
}

function decodeCaps(rec: Uint8Array, name: string): Caps {
  const dv = view(rec);
  const flags = dv.getUint32(0, true);
  if (flags >>> 12) throw new FormatError(`${name}: caps flags ${hex(flags)} set undefined bits (31:12)`);
  const partial: Partial<Record<keyof Caps, boolean | number>> = {};
  for (const [k, bit] of CAP_BITS) partial[k] = (flags & (1 << bit)) !== 0;
  partial.sslps = rec[4]!;
  partial.sagaw = rec[5]!;
  partial.mgaw = rec[6]!;
  partial.haw = rec[7]!;
  partial.pss = rec[8]!;
  checkZero(rec, 9, rec.length, name, 'caps record reserved');
  try {
    return resolveCaps(partial as Partial<Caps>);
  } catch (e) {
    if (e instanceof CapsError) throw new FormatError(`${name}: bad caps record: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------- images

function checkRegions(regions: { base: bigint; size: bigint }[], name: string): void {
  if (regions.length < 1 || regions.length > MAX_REGIONS) throw new FormatError(`${name}: ${regions.length} RAM regions (1..${MAX_REGIONS} allowed)`);
  let total = 0n;
  regions.forEach((r, i) => {
    if (r.base & 0xfffn) throw new FormatError(`${name}: region ${i} base ${hex(r.base)} is not 4 KiB aligned`);
    if (r.size === 0n || r.size & 0xfffn) throw new FormatError(`${name}: region ${i} size ${hex(r.size)} is not a non-zero multiple of 4 KiB`);
    if (r.base + r.size > 1n << 64n) throw new FormatError(`${name}: region ${i} runs past the 64-bit address space`);
    total += r.size;
  });
  if (total > BigInt(MAX_GUEST_RAM)) throw new FormatError(`${name}: ${total} bytes of RAM exceed vtd-emu's ${MAX_GUEST_RAM}-byte ceiling`);
  const sorted = [...regions].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]!.base + sorted[i - 1]!.size > sorted[i]!.base) throw new FormatError(`${name}: RAM regions overlap at ${hex(sorted[i]!.base)}`);
  }
}

const inRegions = (regions: { base: bigint; size: bigint }[], gpa: bigint, len: bigint): boolean =>
  regions.some((r) => gpa >= r.base && gpa + len <= r.base + r.size);

/** Reads a vtd-emu image or a native_walk VTDIMG01 image (by magic). */
export function readImage(bytes: Uint8Array, name = 'image'): ImageFile {
  const m = magicOf(bytes);
  if (m === IMAGE_MAGIC) return { format: 'vtd-emu', image: readEmuImage(bytes, name) };
  if (m === NATIVE_IMAGE_MAGIC) return { format: 'VTDIMG01', native: readNativeImage(bytes, name) };
  if (bytes.length === 0) throw new FormatError(`${name}: empty file, not an image`);
  throw new FormatError(`${name}: not an image file (${describeMagic(m)}; expected ${IMAGE_MAGIC} or ${NATIVE_IMAGE_MAGIC})`);
}

function readEmuImage(bytes: Uint8Array, name: string): GuestImage {
  const { dv, hsize } = checkHeader(bytes, name, IMAGE_HEADER_SIZE, 'an image header');
  const rootTable = dv.getBigUint64(16, true);
  const modeNo = dv.getUint32(24, true);
  const nRegions = dv.getUint32(28, true);
  const capsSize = dv.getUint32(32, true);
  const nPages = dv.getUint32(36, true);
  checkZero(bytes, 40, 64, name, 'reserved header');
  const mode = MODES[modeNo];
  if (mode === undefined) throw new FormatError(`${name}: mode ${modeNo} is not 0 (off), 1 (legacy) or 2 (scalable)`);
  if (nRegions < 1 || nRegions > MAX_REGIONS) throw new FormatError(`${name}: ${nRegions} RAM regions (1..${MAX_REGIONS} allowed)`);
  if (capsSize < CAPS_RECORD_SIZE || capsSize > 4096) throw new FormatError(`${name}: caps record size ${capsSize} is not in [${CAPS_RECORD_SIZE}, 4096]`);
  const capsAt = hsize + 16 * nRegions;
  const pagesAt = capsAt + capsSize;
  checkSize(bytes, pagesAt + nPages * PAGE_RECORD_SIZE, name, `${nRegions} region(s), the caps record and ${nPages} page record(s)`);
  const regions = Array.from({ length: nRegions }, (_, i) => ({
    base: dv.getBigUint64(hsize + 16 * i, true),
    size: dv.getBigUint64(hsize + 16 * i + 8, true),
  }));
  checkRegions(regions, name);
  const caps = decodeCaps(bytes.subarray(capsAt, pagesAt), name);
  if (mode !== 'off') {
    if (rootTable & 0xfffn) throw new FormatError(`${name}: root table ${hex(rootTable)} is not 4 KiB aligned`);
    if (mode === 'scalable' && !caps.smts) throw new FormatError(`${name}: scalable mode needs caps.smts (bit 0 of the caps flags)`);
  } else if (rootTable !== 0n) {
    throw new FormatError(`${name}: root table ${hex(rootTable)} given with mode 0 (translation off)`);
  }
  const seen = new Set<bigint>();
  const pages: ImagePage[] = new Array(nPages);
  for (let i = 0; i < nPages; i++) {
    const at = pagesAt + i * PAGE_RECORD_SIZE;
    const gpa = dv.getBigUint64(at, true);
    if (gpa & 0xfffn) throw new FormatError(`${name}: page record ${i}: GPA ${hex(gpa)} is not 4 KiB aligned`);
    if (!inRegions(regions, gpa, 4096n)) throw new FormatError(`${name}: page record ${i}: GPA ${hex(gpa)} is outside guest RAM`);
    if (seen.has(gpa)) throw new FormatError(`${name}: page record ${i}: GPA ${hex(gpa)} appears twice`);
    seen.add(gpa);
    pages[i] = { gpa, bytes: bytes.subarray(at + 8, at + PAGE_RECORD_SIZE) };
  }
  return { regions, mode, rootTable: mode === 'off' ? 0n : rootTable, caps, pages };
}

/** Serialises an image (pages in the given order; all-zero pages may be left out). */
export function writeImage(img: GuestImage): Uint8Array {
  checkRegions(img.regions, 'image');
  const caps = encodeCaps(resolveCaps(img.caps));
  const nr = img.regions.length;
  const capsAt = IMAGE_HEADER_SIZE + 16 * nr;
  const pagesAt = capsAt + caps.length;
  const out = new Uint8Array(pagesAt + img.pages.length * PAGE_RECORD_SIZE);
  const dv = view(out);
  out.set(new TextEncoder().encode(IMAGE_MAGIC), 0);
  dv.setUint32(8, FORMAT_VERSION, true);
  dv.setUint32(12, IMAGE_HEADER_SIZE, true);
  dv.setBigUint64(16, img.mode === 'off' ? 0n : img.rootTable, true);
  dv.setUint32(24, MODES.indexOf(img.mode), true);
  dv.setUint32(28, nr, true);
  dv.setUint32(32, caps.length, true);
  dv.setUint32(36, img.pages.length, true);
  img.regions.forEach((r, i) => {
    dv.setBigUint64(IMAGE_HEADER_SIZE + 16 * i, r.base, true);
    dv.setBigUint64(IMAGE_HEADER_SIZE + 16 * i + 8, r.size, true);
  });
  out.set(caps, capsAt);
  img.pages.forEach((p, i) => {
    if (p.bytes.length !== 4096) throw new FormatError(`page ${hex(p.gpa)} holds ${p.bytes.length} bytes, not 4096`);
    const at = pagesAt + i * PAGE_RECORD_SIZE;
    dv.setBigUint64(at, p.gpa, true);
    out.set(p.bytes, at + 8);
  });
  return out;
}

/** native_walk's PASID directory: 2^14 entries (PDTS 7). */
const NATIVE_DIR_BYTES = (1n << 14n) * 8n;

function readNativeImage(bytes: Uint8Array, name: string): NativeImage {
  const { dv, hsize } = checkHeader(bytes, name, 64, 'a VTDIMG01 header');
  const memSize = dv.getBigUint64(16, true);
  const dirGpa = dv.getBigUint64(24, true);
  const n = dv.getUint32(32, true);
  const flags = dv.getUint32(36, true);
  const seed = dv.getBigUint64(40, true);
  if (memSize === 0n || memSize & 0xfffn) throw new FormatError(`${name}: guest memory size ${hex(memSize)} is not a non-zero multiple of 4 KiB`);
  if (memSize > BigInt(MAX_GUEST_RAM)) throw new FormatError(`${name}: guest memory of ${memSize} bytes exceeds vtd-emu's ${MAX_GUEST_RAM}-byte ceiling`);
  if (dirGpa & 0xfffn || dirGpa + NATIVE_DIR_BYTES > memSize) throw new FormatError(`${name}: PASID directory ${hex(dirGpa)} is not a 4 KiB-aligned GPA inside guest memory`);
  if (flags & ~3) throw new FormatError(`${name}: flags ${hex(flags)} set undefined bits`);
  checkSize(bytes, hsize + n * (8 + 4096), name, `${n} page(s)`);
  const seen = new Set<bigint>();
  const pages: ImagePage[] = new Array(n);
  const data = hsize + 8 * n;
  for (let i = 0; i < n; i++) {
    const gpa = dv.getBigUint64(hsize + 8 * i, true);
    if (gpa & 0xfffn || gpa + 4096n > memSize) throw new FormatError(`${name}: page ${i}: GPA ${hex(gpa)} is not a 4 KiB-aligned page inside guest memory`);
    if (seen.has(gpa)) throw new FormatError(`${name}: page ${i}: GPA ${hex(gpa)} appears twice`);
    seen.add(gpa);
    pages[i] = { gpa, bytes: bytes.subarray(data + 4096 * i, data + 4096 * (i + 1)) };
  }
  return { memSize, dirGpa, levels: flags & 1 ? 5 : 4, bigPages: (flags & 2) !== 0, seed, pages };
}

/**
 * A native_walk image as a vtd-emu guest: its RAM at GPA 0, plus what native_walk leaves to
 * the IOMMU — a scalable-mode root table and a context entry for `sid` (PASIDE, PDTS 7 =
 * 2^14 directory entries) pointing at the image's PASID directory — in the two lowest free
 * pages from 0x1000 up. Default capabilities (4- and 5-level first stage).
 */
export function nativeToGuestImage(n: NativeImage, sid: number): GuestImage & { contextTable: bigint } {
  const used = new Set(n.pages.map((p) => p.gpa));
  const free: bigint[] = [];
  for (let g = 0x1000n; free.length < 2 && g + 4096n <= n.memSize; g += 4096n) if (!used.has(g)) free.push(g);
  if (free.length < 2) throw new FormatError('native image: no free pages left for the root and context tables');
  const [rta, ctp] = free as [bigint, bigint];
  const bus = sid >> 8;
  const devfn = sid & 0xff;
  const root = new Uint8Array(4096);
  view(root).setBigUint64(bus * 16 + (devfn >= 128 ? 8 : 0), ctp | 1n, true);
  const ctx = new Uint8Array(4096);
  const q = encodeScalableContextEntry({ paside: true, pdts: 7, pasidDirPtr: n.dirGpa });
  q.forEach((v, i) => view(ctx).setBigUint64((devfn & 0x7f) * 32 + 8 * i, v, true));
  return {
    regions: [{ base: 0n, size: n.memSize }],
    mode: 'scalable',
    rootTable: rta,
    contextTable: ctp,
    caps: { ...DEFAULT_CAPS },
    pages: [{ gpa: rta, bytes: root }, { gpa: ctp, bytes: ctx }, ...n.pages],
  };
}

// ---------------------------------------------------------------- request lists

/** Reads a vtd-emu request list or a native_walk VTDREQ01 file (by magic). */
export function readRequests(bytes: Uint8Array, name = 'requests'): RequestFile {
  const m = magicOf(bytes);
  if (m === REQUEST_MAGIC) return { format: 'vtd-emu', requests: readEmuRequests(bytes, name) };
  if (m === NATIVE_REQUEST_MAGIC) return { format: 'VTDREQ01', native: readNativeRequests(bytes, name) };
  if (bytes.length === 0) throw new FormatError(`${name}: empty file, not a request list`);
  throw new FormatError(`${name}: not a request list (${describeMagic(m)}; expected ${REQUEST_MAGIC} or ${NATIVE_REQUEST_MAGIC})`);
}

function readEmuRequests(bytes: Uint8Array, name: string): RequestList {
  const { dv, hsize } = checkHeader(bytes, name, REQUEST_HEADER_SIZE, 'a request-list header');
  const n = dv.getUint32(16, true);
  const rsize = dv.getUint32(20, true);
  checkZero(bytes, 24, 32, name, 'reserved header');
  if (rsize < REQUEST_RECORD_SIZE || rsize > 4096) throw new FormatError(`${name}: record size ${rsize} is not in [${REQUEST_RECORD_SIZE}, 4096]`);
  if (n > MAX_REQUESTS) throw new FormatError(`${name}: ${n} requests; at most ${MAX_REQUESTS} are supported`);
  checkSize(bytes, hsize + n * rsize, name, `${n} request record(s) of ${rsize} bytes`);
  const rl = newRequestList(n);
  for (let i = 0; i < n; i++) {
    const at = hsize + i * rsize;
    const pasid = dv.getUint32(at + 8, true);
    const flags = bytes[at + 14]!;
    if (pasid !== NO_PASID && pasid > 0xfffff) throw new FormatError(`${name}: request ${i}: PASID ${hex(pasid)} is neither < 2^20 nor 0xffffffff (no PASID)`);
    if (flags & ~7) throw new FormatError(`${name}: request ${i}: flags ${hex(flags)} set undefined bits (7:3)`);
    if (bytes[at + 15] !== 0) throw new FormatError(`${name}: request ${i}: reserved byte is ${hex(bytes[at + 15]!)}, must be 0`);
    rl.iova[i] = dv.getBigUint64(at, true);
    rl.pasid[i] = pasid;
    rl.sid[i] = dv.getUint16(at + 12, true);
    rl.flags[i] = flags;
  }
  return rl;
}

export function writeRequests(rl: RequestList): Uint8Array {
  if (rl.n > MAX_REQUESTS) throw new FormatError(`${rl.n} requests; at most ${MAX_REQUESTS} are supported`);
  const out = new Uint8Array(REQUEST_HEADER_SIZE + rl.n * REQUEST_RECORD_SIZE);
  const dv = view(out);
  out.set(new TextEncoder().encode(REQUEST_MAGIC), 0);
  dv.setUint32(8, FORMAT_VERSION, true);
  dv.setUint32(12, REQUEST_HEADER_SIZE, true);
  dv.setUint32(16, rl.n, true);
  dv.setUint32(20, REQUEST_RECORD_SIZE, true);
  for (let i = 0; i < rl.n; i++) {
    const at = REQUEST_HEADER_SIZE + i * REQUEST_RECORD_SIZE;
    const pasid = rl.pasid[i]!;
    const flags = rl.flags[i]!;
    if (pasid !== NO_PASID && pasid > 0xfffff) throw new FormatError(`request ${i}: PASID ${hex(pasid)} is neither < 2^20 nor NO_PASID`);
    if (flags & ~7) throw new FormatError(`request ${i}: flags ${hex(flags)} set undefined bits`);
    dv.setBigUint64(at, rl.iova[i]!, true);
    dv.setUint32(at + 8, pasid, true);
    dv.setUint16(at + 12, rl.sid[i]!, true);
    out[at + 14] = flags;
  }
  return out;
}

function readNativeRequests(bytes: Uint8Array, name: string): NativeRequests {
  const { dv, hsize } = checkHeader(bytes, name, 64, 'a VTDREQ01 header');
  const n = dv.getUint32(16, true);
  const flags = dv.getUint32(20, true);
  const xor = dv.getBigUint64(24, true);
  const pattern = new TextDecoder('latin1').decode(bytes.subarray(32, 64)).replace(/\0.*$/s, '');
  if (flags & ~1) throw new FormatError(`${name}: flags ${hex(flags)} set undefined bits`);
  if (!(flags & 1)) throw new FormatError(`${name}: no expected results in the file (flags bit 0 clear)`);
  if (n > MAX_REQUESTS) throw new FormatError(`${name}: ${n} requests; at most ${MAX_REQUESTS} are supported`);
  checkSize(bytes, hsize + 24 * n, name, `${n} request(s) with expected results`);
  const out: NativeRequests = {
    n, pattern, pasid: new Uint32Array(n), iova: new BigUint64Array(n), flags: new Uint8Array(n), expected: new BigUint64Array(n),
  };
  // Aligned 32-bit copies: no BigInt per request (files hold millions of requests).
  const req = new Uint32Array(4 * n);
  new Uint8Array(req.buffer).set(bytes.subarray(hsize, hsize + 16 * n));
  const exp = new Uint32Array(out.expected.buffer);
  new Uint8Array(exp.buffer).set(bytes.subarray(hsize + 16 * n, hsize + 24 * n));
  const iova32 = new Uint32Array(out.iova.buffer);
  let xlo = 0;
  let xhi = 0;
  for (let i = 0; i < n; i++) {
    const pasid = req[4 * i + 2]!;
    const f = req[4 * i + 3]!;
    if (pasid > 0xfffff) throw new FormatError(`${name}: request ${i}: PASID ${hex(pasid)} is not < 2^20`);
    if (f & ~1) throw new FormatError(`${name}: request ${i}: flags ${hex(f)} set undefined bits`);
    iova32[2 * i] = req[4 * i]!;
    iova32[2 * i + 1] = req[4 * i + 1]!;
    out.pasid[i] = pasid;
    out.flags[i] = f;
    xlo ^= exp[2 * i]!;
    xhi ^= exp[2 * i + 1]!;
  }
  const x = (BigInt(xhi >>> 0) << 32n) | BigInt(xlo >>> 0);
  if (x !== xor) throw new FormatError(`${name}: XOR of the expected results ${hex(x)} does not match the header's ${hex(xor)}`);
  return out;
}

/** native_walk's requests as a request list for device `sid`. */
export function nativeToRequestList(r: NativeRequests, sid: number): RequestList {
  const rl = newRequestList(r.n);
  rl.sid.fill(sid);
  rl.pasid.set(r.pasid);
  rl.iova.set(r.iova);
  rl.flags.set(r.flags);
  return rl;
}
