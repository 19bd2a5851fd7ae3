import type { Storage } from 'tokentree'

/**
 * A storage that behaves as `base` except for the methods in `overrides`. A Proxy rather than a prototype chain:
 * `base`'s methods use private fields, so they must run with `base` itself as `this`.
 */
export function overrideStorage(base: Storage, overrides: Partial<Storage>): Storage {
  return new Proxy(base, {
    get(target, key, receiver) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof Storage]
      const value: unknown = Reflect.get(target, key, receiver)
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value
    },
  })
}
