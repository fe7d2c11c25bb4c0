/**
 * Loading the one `vtd-core.wasm` in Node and in browsers, through @assemblyscript/loader.
 * Every export is numeric (32-bit halves for 64-bit values) or works on linear memory, so the
 * loader's glue adds nothing per call.
 */
import { instantiate } from '@assemblyscript/loader';
import { VtdLoadError } from '../errors.js';

export interface CoreExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  resultPtr(): number;
  maxRegions(): number;
  configure(flags: number, sagaw: number, mgaw: number, haw: number): void;
  setRootTable(lo: number, hi: number, scalable: number, enable: number): void;
  translate(sid: number, pasid: number, iovaLo: number, iovaHi: number, flags: number): number;
  firstStageWalk(rootLo: number, rootHi: number, levels: number, iovaLo: number, iovaHi: number, flags: number): number;
  setRegion(index: number, gpa: bigint, size: bigint, linear: number): void;
  setRegionCount(count: number): void;
  translateBatch(count: number, sidPtr: number, pasidPtr: number, iovaPtr: number, flagsPtr: number,
    addrPtr: number, faultPtr: number, infoPtr: number, listPtr: number): number;
  ccConfigure(ptr: number, sets: number, ways: number): void;
  pcConfigure(ptr: number, sets: number, ways: number): void;
  /** Bytes of linear memory a PASID cache of `entries` entries needs (records and tags). */
  pcBytes(entries: number): number;
  tlbConfigure(ptr: number, sets: number, ways: number): void;
  flushCaches(): void;
  ccInvalidate(gran: number, did: number, sid: number, fm: number, scalable: number): void;
  pcInvalidate(gran: number, did: number, pasid: number): void;
  iotlbInvalidate(gran: number, did: number, addrLo: number, addrHi: number, am: number): void;
  piotlbInvalidate(gran: number, did: number, pasid: number, addrLo: number, addrHi: number, am: number): void;
  iotlbHits(): number;
  iotlbMisses(): number;
  resetCounters(): void;
}

/** Where the core comes from: bytes, a compiled module, or a URL / path to fetch or read. */
export type WasmSource = ArrayBuffer | Uint8Array | WebAssembly.Module | URL | string;

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

let defaultModule: Promise<WebAssembly.Module> | undefined;

async function readBytes(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === 'file:' && isNode) {
    const fs = await import(/* @vite-ignore */ 'node:fs/promises');
    return new Uint8Array(await fs.readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new VtdLoadError(`fetching ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The packaged core sits next to the bundle (dist/); from sources it is in build/. */
async function compileDefault(): Promise<WebAssembly.Module> {
  const candidates = [new URL('./vtd-core.wasm', import.meta.url), new URL('../../build/vtd-core.wasm', import.meta.url)];
  let lastError: unknown;
  for (const url of candidates) {
    try {
      return await WebAssembly.compile(await readBytes(url));
    } catch (e) {
      lastError = e;
    }
  }
  throw new VtdLoadError(`cannot load vtd-core.wasm (tried ${candidates.map((u) => u.href).join(', ')}): ${String(lastError)}`);
}

async function toModule(source: WasmSource | undefined): Promise<WebAssembly.Module> {
  if (source === undefined) {
    defaultModule ??= compileDefault().catch((e) => {
      defaultModule = undefined;
      throw e;
    });
    return defaultModule;
  }
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer) return WebAssembly.compile(source);
  if (source instanceof Uint8Array) return WebAssembly.compile(new Uint8Array(source));
  const url = typeof source === 'string' ? new URL(source, isNode ? `file://${process.cwd()}/` : globalThis.location?.href) : source;
  return WebAssembly.compile(await readBytes(url));
}

/** A fresh core instance (its own linear memory). */
export async function loadCore(source?: WasmSource): Promise<CoreExports> {
  let module: WebAssembly.Module;
  try {
    module = await toModule(source);
  } catch (e) {
    throw e instanceof VtdLoadError ? e : new VtdLoadError(`compiling vtd-core.wasm: ${String(e)}`);
  }
  const { exports } = await instantiate<Record<string, unknown>>(module, {});
  return exports as unknown as CoreExports;
}
