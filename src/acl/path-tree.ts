/**
 * A radix tree of path rules keyed by their path: exact rules and prefix (`*`) rules side by side, found in one walk
 * down the request path (Vault keeps them in two `go-radix` trees and asks each). Pure.
 */

/** One node: the edge label that leads to it, its children by the label's first character code, and its rules. */
interface RadixNode<T> {
  label: string
  children: Map<number, RadixNode<T>> | undefined
  /** The rule for exactly this key. */
  exact: T | undefined
  /** The rule for keys starting with this key (a pattern `key*`). */
  prefix: T | undefined
}

/** Which of a node's two rules. */
export type RuleKind = 'exact' | 'prefix'

/** What one walk finds: the exact rule and the longest prefix rule for a path. */
export interface PathTreeMatch<T> {
  /** The rule whose pattern is exactly the path. */
  exact: T | undefined
  /** The rule whose prefix is the longest prefix of the path. */
  prefix: T | undefined
  /** That prefix's length, -1 when there is none. */
  prefixLength: number
}

function newNode<T>(label: string): RadixNode<T> {
  return { label, children: undefined, exact: undefined, prefix: undefined }
}

/** Exact and prefix rules by path, in a radix tree. */
export class PathTree<T> {
  readonly #root: RadixNode<T> = newNode('')

  /** The rule stored for `key`, if any. */
  get(key: string, kind: RuleKind): T | undefined {
    const node = this.#find(key, false)
    return node?.[kind]
  }

  /** Stores `value` as the `kind` rule of `key`, replacing any. */
  set(key: string, kind: RuleKind, value: T): void {
    const node = this.#find(key, true) as RadixNode<T>
    node[kind] = value
  }

  /** One walk down `path`: its exact rule and its longest prefix rule. */
  match(path: string): PathTreeMatch<T> {
    let node = this.#root
    let offset = 0
    let prefix = node.prefix
    let prefixLength = prefix === undefined ? -1 : 0
    for (;;) {
      if (offset === path.length) return { exact: node.exact, prefix, prefixLength }
      const child = node.children?.get(path.charCodeAt(offset))
      if (child === undefined || !path.startsWith(child.label, offset)) {
        return { exact: undefined, prefix, prefixLength }
      }
      offset += child.label.length
      node = child
      if (node.prefix !== undefined) {
        prefix = node.prefix
        prefixLength = offset
      }
    }
  }

  /** Calls `visit` with every stored rule, exact and prefix (explicit stack, no recursion). */
  forEach(visit: (value: T) => void): void {
    const stack: RadixNode<T>[] = [this.#root]
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.exact !== undefined) visit(node.exact)
      if (node.prefix !== undefined) visit(node.prefix)
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
        child.label = child.label.slice(common)
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
