// The JSON request handling shared by the router and the variant server (common/http-json.ts), on a
// bare fastify instance: every refusal is {"error": "..."} naming the problem, including the ones
// fastify makes itself (content type, prototype keys, undecodable URLs, over-long path parameters).
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { installJsonHandling, JSON_SERVER_OPTIONS } from '../../common/http-json.js';
import { quietLogger } from '../support/variant-server.js';

describe('JSON request handling', () => {
  let app: FastifyInstance;

  before(async () => {
    app = Fastify({ bodyLimit: 1024, logger: false, ...JSON_SERVER_OPTIONS });
    installJsonHandling(app, { bodyLimit: 1024, logger: quietLogger() });
    app.post<{ Params: { name: string } }>('/v2/models/:name/infer', async (request) => ({ name: request.params.name, body: request.body }));
    await app.ready();
  });
  after(async () => {
    await app?.close();
  });

  const post = async (url: string, payload: string, contentType = 'application/json') => {
    const response = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  };

  it('refuses a JSON body sent as text/plain with 415 naming the content type, rather than reading it as a string', async () => {
    const reply = await post('/v2/models/m/infer', '{"inputs": []}', 'text/plain');
    assert.deepEqual(reply, { status: 415, body: { error: 'unsupported content-type "text/plain"; send application/json' } });
  });

  it('says a prototype-poisoning key was refused, not that valid JSON is malformed', async () => {
    for (const payload of ['{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {"x": 1}}}']) {
      const reply = await post('/v2/models/m/infer', payload);
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.body, { error: 'request body has a "__proto__" or "constructor.prototype" key; such keys are refused' });
    }
    assert.match(String((await post('/v2/models/m/infer', '{"a": ')).body.error), /^malformed JSON body: /);
  });

  it('addresses model names up to 256 characters and refuses longer ones with 414 in the same error shape', async () => {
    const long = 'm'.repeat(200);
    const served = await post(`/v2/models/${long}/infer`, '{}');
    assert.equal(served.status, 200);
    assert.equal(served.body.name, long);
    const refused = await post(`/v2/models/${'m'.repeat(300)}/infer`, '{}');
    assert.equal(refused.status, 414);
    assert.deepEqual(Object.keys(refused.body), ['error']);
    assert.match(String(refused.body.error), /^a path parameter \(model name or version\) in "\/v2\/models\/m+\.\.\." is longer than 256 characters$/);
  });

  it('refuses an undecodable URL with 400 in the same error shape', async () => {
    const reply = await post('/v2/models/%E0%A4%A/infer', '{}');
    assert.deepEqual(reply, { status: 400, body: { error: 'the path "/v2/models/%E0%A4%A/infer" is not valid percent-encoded UTF-8' } });
  });
});
