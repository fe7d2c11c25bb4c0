/** Guest-side encoders: the VT-d structures a guest driver writes into its memory. */
export { GuestEncodeError } from './errors.js';
export {
  PAGE_1G, PAGE_2M, PAGE_4K, readEntry, writeEntry,
  type GuestMemoryFill, type GuestMemoryLike, type PageSize,
} from './memory.js';
export { GuestPageAllocator, type GuestRange } from './allocator.js';
export {
  encodeLegacyRootEntry, encodeScalableRootEntry, rootEntryAddress, scalableContextTable, setScalableContext,
  splitSid, writeLegacyRootEntry, writeScalableRootEntry,
  type LegacyRootFields, type ScalableRootFields,
} from './root.js';
export {
  encodeLegacyContextEntry, encodeScalableContextEntry, legacyContextEntryAddress, scalableContextEntryAddress,
  TT, writeLegacyContextEntry, writeScalableContextEntry,
  type LegacyContextFields, type ScalableContextFields,
} from './context.js';
export {
  encodePasidDirEntry, encodePasidEntry, MAX_PASID, pasidDirEntryAddress, pasidEntryAddress, PGTT,
  writePasidDirEntry, writePasidEntry,
  type PasidDirFields, type PasidEntryFields, type PgttName,
} from './pasid.js';
export { FirstStageTable, FsPte, type FirstStageOptions, type FsMapOptions, type FsNonLeafBits } from './first-stage.js';
export { SecondStageTable, SsPte, type SecondStageOptions, type SsMapOptions, type SsNonLeafBits } from './second-stage.js';
export { GuestBuilder, type ScalableDevice, type ScalableDeviceOptions } from './builder.js';
