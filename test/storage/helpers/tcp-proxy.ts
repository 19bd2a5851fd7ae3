/**
 * A TCP proxy the tests can cut and restore, to take a database "down" and bring it back on the same address.
 */
import net from 'node:net'

/** A proxy from a local port to a target. */
export class TcpProxy {
  readonly #target: { host: string; port: number }
  readonly #sockets = new Set<net.Socket>()
  #server: net.Server | null = null
  #port = 0
  #refusing = false
  #connections = 0
  /** Armed by {@link TcpProxy.dropNextReplyTo}: the request whose connection drops its reply. */
  #dropReplyTo: RegExp | null = null

  constructor(target: { host: string; port: number }) {
    this.#target = target
  }

  /** The local port (0 before the first `open()`). */
  get port(): number {
    return this.#port
  }

  /** How many connections clients opened to the proxy so far, refused ones included. */
  get connections(): number {
    return this.#connections
  }

  /** Starts forwarding connections (on the same port as before, after a `cut()` or `refuse()`). */
  async open(): Promise<void> {
    this.#refusing = false
    // Still listening after refuse(): forwarding again is all there is to do.
    if (this.#server !== null) return
    const server = net.createServer((client) => {
      this.#connections += 1
      if (this.#refusing) {
        client.destroy()
        return
      }
      const upstream = net.connect(this.#target)
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket)
        socket.on('close', () => this.#sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      let dropReply = false
      client.on('data', (bytes: Buffer) => {
        if (this.#dropReplyTo?.test(bytes.toString('latin1')) === true) {
          this.#dropReplyTo = null
          dropReply = true
        }
      })
      client.pipe(upstream)
      upstream.on('data', (bytes: Buffer) => {
        if (!dropReply) {
          client.write(bytes)
          return
        }
        client.destroy()
        upstream.destroy()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#port, '127.0.0.1', () => {
        resolve()
      })
    })
    const address = server.address()
    if (address !== null && typeof address === 'object') this.#port = address.port
    this.#server = server
  }

  /**
   * Once: the connection that next sends a request matching `request` is dropped when the reply arrives, the
   * reply unsent, as if the network failed between a command and its answer.
   */
  dropNextReplyTo(request: RegExp): void {
    this.#dropReplyTo = request
  }

  /** Whether {@link TcpProxy.dropNextReplyTo} is still waiting for its request. */
  get waitingToDrop(): boolean {
    return this.#dropReplyTo !== null
  }

  /**
   * Drops every connection and closes each new one at once, still listening: the service looks down, and
   * {@link TcpProxy.connections} counts how often clients try again.
   */
  refuse(): void {
    this.#refusing = true
    this.#dropConnections()
  }

  /** Drops every connection and stops listening: the service looks down. */
  async cut(): Promise<void> {
    this.#dropConnections()
    const server = this.#server
    this.#server = null
    if (server !== null) await new Promise((resolve) => server.close(resolve))
  }

  #dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
  }
}

/**
 * One {@link TcpProxy} per address of a service that has several (the nodes of a Redis Cluster), opened and cut
 * together.
 */
export class ProxyGroup {
  readonly #proxies: TcpProxy[]

  constructor(targets: readonly { host: string; port: number }[]) {
    this.#proxies = targets.map((target) => new TcpProxy(target))
  }

  /** The proxy of the target at `index`. */
  at(index: number): TcpProxy {
    const proxy = this.#proxies[index]
    if (proxy === undefined) throw new RangeError(`No proxy at ${index}`)
    return proxy
  }

  /** The local ports, in the order of the targets (0 before the first `open()`). */
  get ports(): number[] {
    return this.#proxies.map((proxy) => proxy.port)
  }

  /** Starts (or resumes) accepting connections on every proxy. */
  async open(): Promise<void> {
    await Promise.all(this.#proxies.map((proxy) => proxy.open()))
  }

  /** How many connections clients opened to the proxies so far, refused ones included. */
  get connections(): number {
    return this.#proxies.reduce((sum, proxy) => sum + proxy.connections, 0)
  }

  /** Every proxy closes each connection at once (see {@link TcpProxy.refuse}). */
  refuse(): void {
    for (const proxy of this.#proxies) proxy.refuse()
  }

  /** Cuts every proxy: the whole service looks down. */
  async cut(): Promise<void> {
    await Promise.all(this.#proxies.map((proxy) => proxy.cut()))
  }
}
