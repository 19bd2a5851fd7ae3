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

  constructor(target: { host: string; port: number }) {
    this.#target = target
  }

  /** The local port (0 before the first `open()`). */
  get port(): number {
    return this.#port
  }

  /** Starts accepting connections (on the same port as before, after a `cut()`). */
  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target)
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket)
        socket.on('close', () => this.#sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
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

  /** Drops every connection and stops listening: the service looks down. */
  async cut(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    const server = this.#server
    this.#server = null
    if (server !== null) await new Promise((resolve) => server.close(resolve))
  }
}
