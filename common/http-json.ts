// JSON request handling shared by the variant server and the router: a JSON parser that says
// where a malformed body went wrong, and error replies in the OIP style {"error": "..."} for
// everything, including fastify's own errors (body too large, wrong content type, no route).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage, type Logger } from './logger.js';

/** A client error: the status code and a message that names the offending field. */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly statusCode: number,
    message: string,
    /** Sent with the error, e.g. Retry-After on a 429 or 503. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Seconds a client should wait before retrying a request refused for load (429) or drain (503). */
export const RETRY_AFTER_SECONDS = 1;

function clientErrorMessage(error: FastifyError, bodyLimit: number, request: FastifyRequest): string {
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return `malformed JSON body: ${error.message}`;
  switch (error.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is empty; send a JSON object';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than the limit of ${bodyLimit} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `unsupported content-type "${request.headers['content-type'] ?? ''}"; send application/json`;
    default:
      return error.message;
  }
}

/** Longest path parameter: a model name may have 128 characters (plus ".encoder"), a cascade's (a Kubernetes object name) 253. */
const MAX_PARAM_LENGTH = 256;

/**
 * Fastify's `frameworkErrors` option: a URL that cannot be decoded or a path parameter over the
 * router's length limit get the same {"error": "..."} reply as every other client error, instead
 * of fastify's own {"error": "Bad Request", "code": ..., "message": ...}.
 */
export function jsonFrameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const url = JSON.stringify(shorten(request.url.split('?')[0] ?? '', 120));
  const [status, message] =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, `a path parameter (model name or version) in ${url} is longer than ${MAX_PARAM_LENGTH} characters`]
      : error.code === 'FST_ERR_BAD_URL'
        ? [400, `the path ${url} is not valid percent-encoded UTF-8`]
        : [error.statusCode ?? 500, `${error.message} (${url})`];
  void reply.code(status).send({ error: message });
}

const shorten = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}...` : text);

/**
 * Options for creating every JSON server here (fastify reads them only at construction):
 * Fastify({ bodyLimit, ...JSON_SERVER_OPTIONS }). Framework errors answer {"error": "..."}, and a
 * path parameter may be MAX_PARAM_LENGTH characters, not fastify's 100, so that every valid model
 * and cascade name can be addressed.
 */
export const JSON_SERVER_OPTIONS = {
  frameworkErrors: jsonFrameworkErrors,
  routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
};

export function installJsonHandling(app: FastifyInstance, options: { bodyLimit: number; logger: Logger }): void {
  const { bodyLimit, logger } = options;
  // Only JSON is read: fastify's built-in text/plain parser would hand a JSON body sent as
  // text/plain to the handlers as a string ("body must be a JSON object, got the string ...").
  // Without it such a request gets 415 naming its content type.
  app.removeContentTypeParser('text/plain');
  // fastify's JSON parser (which guards against prototype poisoning) only says "not valid JSON";
  // a second plain parse of the rejected body yields where it went wrong.
  const defaultJsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    defaultJsonParser(request, text, (error, value) => {
      if ((error as FastifyError | null)?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
        try {
          JSON.parse(text);
        } catch (syntax) {
          done(new RequestError(400, `malformed JSON body: ${(syntax as Error).message}`), undefined);
          return;
        }
        // Valid JSON that fastify still refused: it holds a prototype-poisoning key.
        done(new RequestError(400, 'request body has a "__proto__" or "constructor.prototype" key; such keys are refused'), undefined);
        return;
      }
      done(error, value);
    });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error instanceof RequestError ? error.statusCode : (error.statusCode ?? 500);
    if (error instanceof RequestError) reply.headers(error.headers);
    if (status >= 400 && status < 500) {
      const message = error instanceof RequestError ? error.message : clientErrorMessage(error, bodyLimit, request);
      logger.debug('rejected request', { method: request.method, url: request.url, status, error: message });
      return reply.code(status).send({ error: message });
    }
    if (error instanceof RequestError) return reply.code(status).send({ error: error.message });
    logger.error('request failed', { method: request.method, url: request.url, error: errorMessage(error) });
    return reply.code(status >= 500 ? status : 500).send({ error: `internal error: ${errorMessage(error)}` });
  });

  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` }));
}
