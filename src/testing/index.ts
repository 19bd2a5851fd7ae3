/**
 * `tokentree/testing`: fixtures for testing apps that use tokentree, and for testing storage adapters.
 *
 * @packageDocumentation
 * @module tokentree/testing
 */
export { ManualClock } from './manual-clock.js'
export { createTestStore, type TestStore, type TestStoreOptions } from './create-test-store.js'
export {
  runStorageConformance,
  type ConformanceOptions,
  type ConformanceRunner,
  type StorageFactory,
} from './conformance.js'
