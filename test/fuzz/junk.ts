/**
 * Generators of hostile input: wrong types, huge strings, prototype-pollution keys, unicode, special numbers,
 * arrays for objects, getters that throw, and Proxies that throw on every trap.
 */
import fc from 'fast-check'

/** 1 MiB of text: longer than any field accepts. */
export const HUGE = 'x'.repeat(1 << 20)

function throwingGetter(key: string): Record<string, unknown> {
  const object: Record<string, unknown> = {}
  Object.defineProperty(object, key, {
    enumerable: true,
    get() {
      throw new Error('a getter that throws')
    },
  })
  return object
}

function hostileProxy(): object {
  const fail = (): never => {
    throw new Error('a proxy that throws')
  }
  return new Proxy(
    {},
    { get: fail, has: fail, ownKeys: fail, getOwnPropertyDescriptor: fail, getPrototypeOf: fail },
  )
}

/**
 * A hostile value made only when used: fast-check inspects and prints generated values, which a Proxy or a
 * throwing getter would break. `materialize` makes them, at the top level and one level into options.
 */
export class Lazy {
  constructor(
    readonly make: () => unknown,
    readonly label: string,
  ) {}
  toString(): string {
    return this.label
  }
}

export function materialize(value: unknown): unknown {
  if (value instanceof Lazy) return value.make()
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    const copy: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key]
      Object.defineProperty(copy, key, {
        value: materialize(item),
        enumerable: true,
        configurable: true,
        writable: true,
      })
    }
    return copy
  }
  return value
}

const special: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  -1,
  0.5,
  2 ** 53,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  1e21,
  '',
  ' ',
  '-1',
  '1e9999',
  '9'.repeat(400),
  '1h-5m',
  '-5m',
  'forever',
  '100000000h',
  'NaN',
  'Infinity',
  '\u0000',
  '\uD800',
  '🔥'.repeat(300),
  '../../etc/passwd',
  'hvs.',
  HUGE,
  null,
  undefined,
  true,
  [],
  [[]],
  {},
  Symbol('junk'),
  10n,
  () => 1,
  new Date(Number.NaN),
  /re/,
  new Map([['a', 'b']]),
  new Uint8Array(4),
)

/** Any single hostile value. */
export const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: special, weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
  {
    arbitrary: fc.anything({
      maxDepth: 2,
      withBigInt: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
    }),
    weight: 2,
  },
  { arbitrary: fc.constant(new Lazy(hostileProxy, 'a Proxy that throws')), weight: 1 },
  {
    arbitrary: fc
      .constantFrom('ttl', 'path', 'policies', 'numUses')
      .map((key) => new Lazy(() => throwingGetter(key), `a getter of ${key} that throws`)),
    weight: 1,
  },
)

/** Keys of every options object, plus prototype-pollution keys and unknown ones. */
const OPTION_KEYS = [
  'parent',
  'id',
  'policies',
  'metadata',
  'noParent',
  'ttl',
  'explicitMaxTtl',
  'period',
  'displayName',
  'numUses',
  'renewable',
  'noDefaultPolicy',
  'path',
  'role',
  'type',
  'data',
  'allowedPolicies',
  'tokenPeriod',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
]

/** A value for metadata: objects with pollution keys (own `__proto__` keys, as JSON.parse makes them). */
const junkMetadata: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(JSON.parse('{"__proto__":{"polluted":"yes"}}') as unknown),
  fc.constant(JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}}}') as unknown),
  fc.dictionary(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', 'ü', ''),
    fc.oneof(fc.string(), junkValue),
  ),
  junkValue,
)

/** An options object: real keys with hostile values, pollution keys, sometimes not an object at all. */
export const junkOptions: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom(...OPTION_KEYS), fc.oneof(junkValue, junkMetadata)), {
        maxLength: 4,
      })
      // defineProperty, so that a '__proto__' key is an own key, as JSON.parse would make it.
      .map((entries) => {
        const object: Record<string, unknown> = {}
        for (const [key, value] of entries) {
          Object.defineProperty(object, key, {
            value,
            enumerable: true,
            configurable: true,
            writable: true,
          })
        }
        return object
      }),
    weight: 6,
  },
  { arbitrary: fc.record({ metadata: junkMetadata }), weight: 2 },
  { arbitrary: junkValue, weight: 2 },
)
