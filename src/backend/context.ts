/** Internal: what the backend's modules share (the object union, the context, an undo log). */
import type { DeviceObject } from './device.js';
import type { FaultInjectPoint } from './fault-injection.js';
import type { FaultObject, HwptNestedObject, HwptPagingObject } from './hwpt.js';
import type { HostMemory, IoasObject } from './ioas.js';
import type { ObjectTable } from './objects.js';

export type HwptObject = HwptPagingObject | HwptNestedObject;
export type AnyObject = IoasObject | HwptPagingObject | HwptNestedObject | DeviceObject | FaultObject;

/** Which paging-HWPT flag combinations the host driver accepts (see SimIommufdOptions). */
export type PagingFlagRules = 'vtd' | 'smmuv3';

export interface SimContext {
  readonly table: ObjectTable<AnyObject>;
  readonly hostMemory: HostMemory | undefined;
  readonly pagingFlagRules: PagingFlagRules;
  /** Throws the armed errno if a fault is injected at this point. */
  injectPoint(point: FaultInjectPoint): void;
}

/** Steps to take back, last first, when a later step of the same call fails. */
export class Undo {
  private readonly steps: (() => void)[] = [];
  push(step: () => void): void {
    this.steps.push(step);
  }
  run(): void {
    while (this.steps.length) this.steps.pop()!();
  }
}
