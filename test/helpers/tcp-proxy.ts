/**
 * A network partition on loopback without iptables: a TCP proxy (Node `net`) between one
 * client and its server. `blackhole()` keeps every connection open and accepts new ones but
 * forwards nothing in either direction, as a partitioned link does (no reset, no FIN: the
 * peers only see silence); `restore()` lets the held bytes through, as TCP's retransmission
 * would once the link heals. Closed when the test ends.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';

interface Link {
  client: Socket;
  upstream: Socket;
}

export class TcpProxy {
  private readonly links = new Set<Link>();
  private holding = false;

  private constructor(
    private readonly server: Server,
    /** The port the proxy listens on (127.0.0.1). */
    readonly port: number,
  ) {}

  /** A proxy on a free loopback port forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    const started = proxy;
    onTestFinished(() => started.close());
    return started;
  }

  /** True while nothing is forwarded. */
  get blackholed(): boolean {
    return this.holding;
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.links.size;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    const link = { client, upstream };
    this.links.add(link);
    const drop = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (this.holding) this.hold(link);
    else this.forward(link);
  }

  private forward({ client, upstream }: Link): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private hold({ client, upstream }: Link): void {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }

  /** Stops forwarding, both directions, on every connection (open and new). */
  blackhole(): void {
    this.holding = true;
    for (const link of this.links) this.hold(link);
  }

  /** Forwards again, held bytes first. */
  restore(): void {
    this.holding = false;
    for (const link of this.links) this.forward(link);
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream.destroy();
    }
    this.links.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
