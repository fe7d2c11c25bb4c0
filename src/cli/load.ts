/** Loading the files the subcommands take: a guest image (or the demo) and a request list. */
import { basename } from 'node:path';
import type { CacheOptions } from '../caches.js';
import type { Vtd } from '../vtd.js';
import { readInput } from './args.js';
import { demoImage } from './demo.js';
import {
  nativeToGuestImage, nativeToRequestList, readImage, readRequests, type GuestImage, type RequestList,
} from './formats.js';
import { unitFromImage } from './image.js';

export interface LoadedImage {
  /** What to call it in output: the file name, or 'demo'. */
  name: string;
  path: string | null;
  format: 'vtd-emu' | 'VTDIMG01' | 'demo';
  image: GuestImage;
  /** VTDIMG01: what native_walk wrote, and where the root/context tables were added. */
  native?: { levels: 4 | 5; bigPages: boolean; dirGpa: bigint; sid: number; contextTable: bigint };
}

/** Reads `path` (vtd-emu image or VTDIMG01; `sid` places VTDIMG01's context entry) or builds the demo. */
export async function loadImage(path: string | undefined, sid: number): Promise<LoadedImage> {
  if (path === undefined) return { name: 'demo', path: null, format: 'demo', image: await demoImage() };
  const f = readImage(readInput(path, 'image'), basename(path));
  if (f.format === 'vtd-emu') return { name: basename(path), path, format: 'vtd-emu', image: f.image };
  const g = nativeToGuestImage(f.native, sid);
  return {
    name: basename(path), path, format: 'VTDIMG01', image: g,
    native: { levels: f.native.levels, bigPages: f.native.bigPages, dirGpa: f.native.dirGpa, sid, contextTable: g.contextTable },
  };
}

export interface LoadedRequests {
  name: string;
  path: string;
  format: 'vtd-emu' | 'VTDREQ01';
  requests: RequestList;
  /** VTDREQ01: native_walk's results (GPA or 0xFFFFFFFFFFFFFF00 | fault code). */
  expected?: BigUint64Array;
}

/** Reads a vtd-emu request list, or a VTDREQ01 file whose requests all come from `sid`. */
export function loadRequests(path: string, sid: number): LoadedRequests {
  const f = readRequests(readInput(path, 'request list'), basename(path));
  if (f.format === 'vtd-emu') return { name: basename(path), path, format: 'vtd-emu', requests: f.requests };
  return { name: basename(path), path, format: 'VTDREQ01', requests: nativeToRequestList(f.native, sid), expected: f.native.expected };
}

export async function unitOf(img: LoadedImage, caches?: CacheOptions): Promise<Vtd> {
  return unitFromImage(img.image, caches === undefined ? {} : { caches });
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** One line describing an image: format, RAM, mode, root table, pages. */
export function describeImage(l: LoadedImage): string {
  const img = l.image;
  const ram = img.regions.map((r) => `${hex(r.base)}-${hex(r.base + r.size - 1n)}`).join(', ');
  const fmt = l.format === 'demo' ? 'built-in demo' : l.format === 'vtd-emu' ? 'vtd-emu image' : 'native_walk VTDIMG01 image';
  const mode = img.mode === 'off' ? 'translation off' : `${img.mode} mode, root table ${hex(img.rootTable)}`;
  const nat = l.native
    ? `; ${l.native.levels}-level ${l.native.bigPages ? '2 MiB' : '4 KiB'} first stage, PASID directory ${hex(l.native.dirGpa)}, context entry added for sid ${hex(l.native.sid)} at ${hex(l.native.contextTable)}`
    : '';
  return `${l.name} (${fmt}): RAM ${ram}; ${mode}; ${img.pages.length} non-zero pages${nat}`;
}
