import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { COMMON_OPTIONS, readEnvOptions } from '../../sidecar/src/config/option-table.ts';

/**
 * A Prometheus /metrics endpoint; null when the port is 0 (disabled). It binds to
 * CHURNFEAT_METRICS_HOST (default 127.0.0.1; pods set 0.0.0.0 to be scraped from outside).
 */
export function startMetricsServer(
  port: number,
  registry: Registry,
  host: string = readEnvOptions({ metricsHost: COMMON_OPTIONS.metricsHost }).metricsHost ?? COMMON_OPTIONS.metricsHost.default,
): Server | null {
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
  }).listen(port, host);
}
