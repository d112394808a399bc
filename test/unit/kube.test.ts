import assert from 'node:assert/strict';
import { KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { namespaceTerminating, poolDispatchers } from '../../operator/kube.js';

const config = {
  clusters: [{ name: 'local', server: 'https://127.0.0.1:6443', caData: Buffer.from('not a real CA').toString('base64'), skipTLSVerify: false }],
  users: [{ name: 'operator', token: 'secret' }],
  contexts: [{ name: 'local', cluster: 'local', user: 'operator' }],
  currentContext: 'local',
};

async function dispatcherOf(kubeConfig: KubeConfig): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  return context.getDispatcher();
}

describe('kube clients', () => {
  it('reuses one connection pool for every request (stock client-node 2.0.1 makes one per request)', async () => {
    const stock = new KubeConfig();
    stock.loadFromOptions(config);
    assert.notEqual(await dispatcherOf(stock), await dispatcherOf(stock), 'stock behaviour changed: the pooling may be unnecessary now');

    const pooled = poolDispatchers(new KubeConfig());
    pooled.loadFromOptions(config);
    const first = await dispatcherOf(pooled);
    assert.ok(first);
    assert.equal(await dispatcherOf(pooled), first);
  });

  it('recognises a write refused because the namespace is terminating, by its status cause', () => {
    const refused = (causes: { type: string }[]) => ({ code: 403, body: JSON.stringify({ kind: 'Status', code: 403, details: { causes } }) });
    assert.equal(namespaceTerminating(refused([{ type: 'NamespaceTerminating' }])), true);
    assert.equal(namespaceTerminating(refused([{ type: 'FieldValueInvalid' }])), false);
    assert.equal(namespaceTerminating({ code: 404, body: '{}' }), false);
    assert.equal(namespaceTerminating(new Error('boom')), false);
  });
});
