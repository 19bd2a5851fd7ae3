/**
 * A radix tree of prefix (`*`) rules keyed by their prefix, answering "the longest stored prefix of this path" in one
 * walk down the path (Vault keeps its prefix rules in a `go-radix` tree and asks `LongestPrefix`). Pure.
 */

import { internalized } from './intern.js'

/** One node: the edge label that leads to it, its children by the label's first character code, and its rule. */
interface RadixNode<T> {
  label: string
  children: Map<number, RadixNode<T>> | undefined
  /** The rule whose prefix ends exactly here. */
  value: T | undefined
}

function newNode<T>(label: string): RadixNode<T> {
  // Labels are compared with request paths: shared copies compare fastest (see `internalized`).
  return { label: internalized(label), children: undefined, value: undefined }
}

/** Rules by prefix, in a radix tree. */
export class PathTree<T> {
  readonly #root: RadixNode<T> = newNode('')

  /** The rule stored for exactly `key`, if any. */
  get(key: string): T | undefined {
    return this.#find(key, false)?.value
  }

  /** Stores `value` as the rule of `key`, replacing any. */
  set(key: string, value: T): void {
    ;(this.#find(key, true) as RadixNode<T>).value = value
  }

  /**
   * The rule of the longest stored key that `path` starts with, found in one walk down `path` (allocating
   * nothing).
   */
  longestPrefix(path: string): T | undefined {
    let node = this.#root
    let offset = 0
    let best = node.value
    for (;;) {
      const child = offset < path.length ? node.children?.get(path.charCodeAt(offset)) : undefined
      if (child === undefined || !path.startsWith(child.label, offset)) return best
      offset += child.label.length
      node = child
      if (node.value !== undefined) best = node.value
    }
  }

  /** Calls `visit` with every stored rule (explicit stack, no recursion). */
  forEach(visit: (value: T) => void): void {
    const stack: RadixNode<T>[] = [this.#root]
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.value !== undefined) visit(node.value)
      if (node.children !== undefined) stack.push(...node.children.values())
    }
  }

  /** The node for `key`, created (splitting edges) when `create`. */
  #find(key: string, create: boolean): RadixNode<T> | undefined {
    let node = this.#root
    let offset = 0
    for (;;) {
      if (offset === key.length) return node
      const first = key.charCodeAt(offset)
      const child = node.children?.get(first)
      if (child === undefined) {
        if (!create) return undefined
        const leaf = newNode<T>(key.slice(offset))
        node.children ??= new Map()
        node.children.set(first, leaf)
        return leaf
      }
      let common = 0
      const limit = Math.min(child.label.length, key.length - offset)
      while (common < limit && child.label.charCodeAt(common) === key.charCodeAt(offset + common)) {
        common += 1
      }
      if (common < child.label.length) {
        if (!create) return undefined
        // Split the edge: node → middle (the common part) → child (the rest).
        const middle = newNode<T>(child.label.slice(0, common))
        child.label = internalized(child.label.slice(common))
        middle.children = new Map([[child.label.charCodeAt(0), child]])
        ;(node.children as Map<number, RadixNode<T>>).set(first, middle)
        node = middle
      } else {
        node = child
      }
      offset += common
    }
  }
}
