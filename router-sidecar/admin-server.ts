// The router's admin port: switching cache reuse, clearing the cache and reloading the config.
// It is a separate listener (by default on 127.0.0.1, reachable in a pod through
// `kubectl port-forward`) so that nothing that reaches the inference Service reaches these, and
// every endpoint needs "Authorization: Bearer <ADMIN_TOKEN>".
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { installJsonHandling, JSON_SERVER_OPTIONS, RequestError } from '../common/http-json.js';
import type { Logger } from '../common/logger.js';
import type { Router } from './router.js';

export interface AdminServerOptions {
  router: Router;
  logger: Logger;
  /** Without a token every admin endpoint answers 403. */
  adminToken?: string;
  reload: () => Promise<{ generation: number }>;
}

const ADMIN_BODY_LIMIT_BYTES = 4096;

function tokenVerdict(authorization: string | undefined, token: string | undefined): 'ok' | 'disabled' | 'denied' {
  if (!token) return 'disabled';
  const header = authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'denied';
}

export function createAdminServer(options: AdminServerOptions): FastifyInstance {
  const { router, logger } = options;
  const app = Fastify({ bodyLimit: ADMIN_BODY_LIMIT_BYTES, logger: false, forceCloseConnections: true, ...JSON_SERVER_OPTIONS });
  installJsonHandling(app, { bodyLimit: ADMIN_BODY_LIMIT_BYTES, logger });

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const verdict = tokenVerdict(request.headers.authorization, options.adminToken);
    if (verdict === 'disabled') throw new RequestError(403, 'admin endpoints are disabled: start the router with ADMIN_TOKEN set');
    if (verdict === 'denied') throw new RequestError(401, 'admin endpoints need "Authorization: Bearer <ADMIN_TOKEN>"');
  });

  app.post('/admin/cache', async (request) => {
    const body = request.body as { enabled?: unknown } | undefined;
    if (typeof body?.enabled !== 'boolean') throw new RequestError(400, 'body must be {"enabled": true|false}');
    router.setCacheReuse(body.enabled);
    logger.info('cache reuse switched by an administrator', { enabled: body.enabled });
    return { reuse_enabled: router.cache.reuseEnabled };
  });
  app.post('/admin/cache/clear', async () => {
    const dropped = router.clearCache();
    logger.info('cache cleared by an administrator', { dropped });
    return { dropped };
  });
  app.post('/admin/reload', async () => options.reload());
  return app;
}
