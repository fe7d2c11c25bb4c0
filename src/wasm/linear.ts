/**
 * The layout of the core's linear memory above its static data: guest RAM regions first, then
 * batch buffers. A bump allocator (nothing is freed: a Vtd's RAM lives as long as it does) that
 * grows the memory on demand. wasm32 addresses at most 4 GiB, which bounds guest RAM.
 */
import { VtdArgumentError } from '../errors.js';

export const WASM_PAGE = 65536;
export const LINEAR_LIMIT = 4 * 1024 * 1024 * 1024; // wasm32, 65536 pages

export class LinearAllocator {
  private top: number;

  constructor(private readonly memory: WebAssembly.Memory, heapBase: number) {
    this.top = Math.ceil(heapBase / WASM_PAGE) * WASM_PAGE;
  }

  /** Reserve `bytes` aligned to `align`; returns the linear address. Grows memory as needed. */
  alloc(bytes: number, align = 64): number {
    const start = Math.ceil(this.top / align) * align;
    const end = start + bytes;
    if (end > LINEAR_LIMIT) {
      throw new VtdArgumentError(`out of WASM linear memory: ${bytes} bytes at ${start} would pass the 4 GiB wasm32 limit`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / WASM_PAGE);
      try {
        this.memory.grow(pages);
      } catch (e) {
        throw new VtdArgumentError(`cannot grow WASM memory by ${pages} pages (${String(e)})`);
      }
    }
    this.top = end;
    return start;
  }

  get used(): number {
    return this.top;
  }
}
