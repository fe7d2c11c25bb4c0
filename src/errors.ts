/** Typed errors of the public API. Guest-caused conditions are VT-d faults (results), never these. */

/** Base class: every error vtd-emu throws on purpose is a VtdError. */
export class VtdError extends Error {
  override name = 'VtdError';
}

/** API misuse: an argument out of range, of the wrong type, or a call in the wrong state. */
export class VtdArgumentError extends VtdError {
  override name = 'VtdArgumentError';
}

/** A host-side memory access (memory.read/write) outside every guest RAM region. */
export class VtdMemoryError extends VtdError {
  override name = 'VtdMemoryError';
}

/** The WASM core could not be loaded or instantiated. */
export class VtdLoadError extends VtdError {
  override name = 'VtdLoadError';
}
