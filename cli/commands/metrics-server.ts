import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** A Prometheus /metrics endpoint on 127.0.0.1; null when the port is 0 (disabled). */
export function startMetricsServer(port: number, registry: Registry): Server | null {
  if (port <= 0) return null;
  return createServer((req, res) => {
    if (req.url === '/metrics') {
      void registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      });
    } else {
      res.writeHead(404).end();
    }
  }).listen(port, '127.0.0.1');
}
