/**
 * The iommufd-shaped backend interface and its embedded default, SimIommufd (an in-process
 * simulation of Linux iommufd on Intel VT-d hosts). See src/backend/README.md.
 */
export * from './types.js';
export { BackendError, ERRNO, type Errno } from './errors.js';
export {
  SimIommufd, type SimIommufdOptions, type SimDeviceOptions, type SimStats, type SimState, type DmaBatchResult,
  type GuestMemoryReader,
} from './sim-iommufd.js';
export type { FirstStageWalker } from './dma.js';
export type { HostMemory, Area as IoasArea } from './ioas.js';
export { MSI_WINDOW } from './device.js';
export { DEFAULT_HOST_VTD, vtdHostRegs, decodeHostCaps, type HostVtdFields, type HostVtdRegs, type HostCaps } from './host-caps.js';
export { BACKEND_OPS, DRIVER_POINTS, type BackendOp, type FaultInjectPoint } from './fault-injection.js';
