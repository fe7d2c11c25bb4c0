/** The pure-TypeScript reference implementation of docs/semantics.md. */
export { refFirstStageWalk, refTranslate, type RefEnv } from './walker.js';
export type { WalkStep, WalkStructure } from './env.js';
export { RegionMemory, type Region, type RefMemory } from './memory.js';
