/**
 * Capabilities of the emulated unit, named after the CAP/ECAP register fields that advertise
 * them. The walkers only read them through `resolveCaps`, so every default lives here.
 */
export interface Caps {
  /** ECAP.SMTS: scalable-mode translation tables. */
  smts: boolean;
  /** ECAP.FSTS: first-stage translation (PGTT 001b). */
  fsts: boolean;
  /** ECAP.SSTS: second-stage translation (PGTT 010b). */
  ssts: boolean;
  /** ECAP.PT: pass-through (PGTT 100b, legacy TT 10b). */
  pt: boolean;
  /** ECAP.NEST: nested translation (PGTT 011b); needs fsts and ssts. */
  nest: boolean;
  /** CAP.FS5LP: 5-level first-stage paging. */
  fs5lp: boolean;
  /** CAP.FS1GP: 1 GiB first-stage pages. */
  fs1gp: boolean;
  /** CAP.SSLPS: second-stage large pages, bit 0 = 2 MiB, bit 1 = 1 GiB. */
  sslps: number;
  /** CAP.SAGAW: supported second-stage AGAWs, bit 1 = 3-level, 2 = 4-level, 3 = 5-level. */
  sagaw: number;
  /** Maximum guest address width (CAP.MGAW + 1). */
  mgaw: number;
  /** Host address width: address bits at or above it are reserved in entries. */
  haw: number;
  /** ECAP.PSS: supported PASID width minus one (19 = 20-bit PASIDs). */
  pss: number;
  /** ECAP.RPS: RID_PASID in the context entry (otherwise requests without PASID use PASID 0). */
  rps: boolean;
  /** ECAP.ERS: execute requests. */
  ers: boolean;
  /** ECAP.SRS: supervisor (privileged) requests. */
  srs: boolean;
  /** ECAP.DT: device-TLB (ATS); makes second-stage bit 62 (TM) defined and legacy TT 01b valid. */
  dt: boolean;
  /** CAP.CM: caching mode (not-present entries may be cached; needed for host devices). */
  cachingMode: boolean;
}

export const DEFAULT_CAPS: Readonly<Caps> = Object.freeze({
  smts: true,
  fsts: true,
  ssts: true,
  pt: true,
  nest: false,
  fs5lp: true,
  fs1gp: true,
  sslps: 0b11,
  sagaw: 0b0110,
  mgaw: 48,
  haw: 48,
  pss: 19,
  rps: false,
  ers: true,
  srs: true,
  dt: false,
  cachingMode: false,
});

/**
 * Bits of the feature word handed to the WASM core (`configure`). assembly/caps.ts declares
 * the same values; test/spec-sync.test.ts checks them.
 */
export const CapFlag = {
  FSTS: 1 << 0,
  SSTS: 1 << 1,
  PT: 1 << 2,
  NEST: 1 << 3,
  FS5LP: 1 << 4,
  FS1GP: 1 << 5,
  SSLPS_2M: 1 << 6,
  SSLPS_1G: 1 << 7,
  RPS: 1 << 8,
  ERS: 1 << 9,
  SRS: 1 << 10,
  DT: 1 << 11,
  SMTS: 1 << 12,
} as const;

export class CapsError extends TypeError {
  override name = 'CapsError';
}

/** Defaults filled in and every value checked; throws CapsError on nonsense. */
export function resolveCaps(partial: Partial<Caps> = {}): Caps {
  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULT_CAPS)) throw new CapsError(`unknown capability '${k}'`);
  }
  const c: Caps = { ...DEFAULT_CAPS, ...partial };
  const intIn = (name: keyof Caps, lo: number, hi: number) => {
    const v = c[name] as number;
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new CapsError(`caps.${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
  };
  intIn('haw', 32, 52);
  intIn('mgaw', 30, 57);
  intIn('pss', 0, 19);
  intIn('sagaw', 0, 0b1110);
  intIn('sslps', 0, 3);
  if (c.nest && !(c.fsts && c.ssts)) throw new CapsError('caps.nest needs caps.fsts and caps.ssts');
  return c;
}

/** The feature word for the WASM core. */
export function capFlags(c: Caps): number {
  let f = 0;
  if (c.fsts) f |= CapFlag.FSTS;
  if (c.ssts) f |= CapFlag.SSTS;
  if (c.pt) f |= CapFlag.PT;
  if (c.nest) f |= CapFlag.NEST;
  if (c.fs5lp) f |= CapFlag.FS5LP;
  if (c.fs1gp) f |= CapFlag.FS1GP;
  if (c.sslps & 1) f |= CapFlag.SSLPS_2M;
  if (c.sslps & 2) f |= CapFlag.SSLPS_1G;
  if (c.rps) f |= CapFlag.RPS;
  if (c.ers) f |= CapFlag.ERS;
  if (c.srs) f |= CapFlag.SRS;
  if (c.dt) f |= CapFlag.DT;
  if (c.smts) f |= CapFlag.SMTS;
  return f;
}
