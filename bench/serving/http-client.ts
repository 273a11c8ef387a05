/**
 * The load driver's HTTP client: an undici Pool of keep-alive connections. undici is a
 * dev dependency for this reason only: node:http's client spent about 50 us of CPU per
 * request on this 2-core machine, as much as the server it was measuring.
 */
import { Pool } from 'undici';

export class KeepAliveClient {
  private readonly pool: Pool;

  constructor(baseUrl: string, connections = 64) {
    this.pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  /** Sends one request and resolves with the status once the whole body is read; rejects on non-2xx. */
  async send(method: 'GET' | 'POST', path: string, body?: string): Promise<number> {
    const response = await this.pool.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body,
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`HTTP ${response.statusCode}`);
    return response.statusCode;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
