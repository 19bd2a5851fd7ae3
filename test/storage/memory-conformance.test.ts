/**
 * The storage conformance suite on MemoryStorage, the reference implementation: every adapter must behave as this
 * one does.
 */
import { describe, test } from 'node:test'

import { MemoryStorage } from '../../src/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'

runStorageConformance({ test, describe }, () => new MemoryStorage(), { name: 'MemoryStorage' })
