import assert from 'node:assert/strict';
import type { CoreV1Api, CoreV1ApiCreateNamespacedEventRequest } from '@kubernetes/client-node';
import type { InferenceCascade } from '../../crds/types.js';
import { KubeEventRecorder } from '../../operator/events.js';
import type { Logger } from '../../common/logger.js';

const WINDOW = 60_000;
const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);

function cascade(name = 'fraud-scorer', uid = 'uid-1'): InferenceCascade {
  return {
    apiVersion: 'cascade.inference.dev/v1alpha1',
    kind: 'InferenceCascade',
    metadata: { name, namespace: 'ml', uid, resourceVersion: '42', generation: 1 },
    spec: {} as InferenceCascade['spec'],
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Harness {
  time = T0;
  readonly sent: CoreV1ApiCreateNamespacedEventRequest[] = [];
  readonly warnings: { message: string; meta: Record<string, unknown> }[] = [];
  fail: unknown = undefined;

  readonly core = {
    createNamespacedEvent: (request: CoreV1ApiCreateNamespacedEventRequest) => {
      this.sent.push(request);
      return this.fail === undefined ? Promise.resolve(request.body) : Promise.reject(this.fail);
    },
  } as unknown as CoreV1Api;

  readonly logger = {
    warn: (message: string, meta: Record<string, unknown>) => {
      this.warnings.push({ message, meta });
      return this.logger;
    },
    info: () => this.logger,
    error: () => this.logger,
    debug: () => this.logger,
    child: () => this.logger,
  } as unknown as Logger;

  /** windowMs null: the recorder's own default window. */
  recorder(windowMs: number | null = WINDOW): KubeEventRecorder {
    return new KubeEventRecorder(this.core, 'inference-cascade-operator', 'operator-0', this.logger, windowMs ?? undefined, () => this.time);
  }
}

describe('KubeEventRecorder', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });

  it('creates an Event for the cascade', () => {
    h.recorder().record(cascade(), 'Normal', 'Created', 'Created Deployment fraud-scorer-full');
    assert.equal(h.sent.length, 1);
    const time = new Date(T0);
    assert.deepEqual(h.sent[0], {
      namespace: 'ml',
      body: {
        metadata: { generateName: 'fraud-scorer.', namespace: 'ml' },
        involvedObject: { apiVersion: 'cascade.inference.dev/v1alpha1', kind: 'InferenceCascade', name: 'fraud-scorer', namespace: 'ml', uid: 'uid-1', resourceVersion: '42' },
        type: 'Normal',
        reason: 'Created',
        message: 'Created Deployment fraud-scorer-full',
        source: { component: 'inference-cascade-operator' },
        reportingComponent: 'inference-cascade-operator',
        reportingInstance: 'operator-0',
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      },
    });
  });

  it('sends an identical event once per window', () => {
    const r = h.recorder();
    const record = () => r.record(cascade(), 'Warning', 'ApplyFailed', 'Service x: HTTP 422');
    record();
    h.time = T0 + 1;
    record();
    h.time = T0 + WINDOW - 1;
    record();
    assert.equal(h.sent.length, 1);
    h.time = T0 + WINDOW;
    record();
    assert.equal(h.sent.length, 2);
    assert.deepEqual(h.sent[1]!.body.firstTimestamp, new Date(T0 + WINDOW));
    // The window restarts from the second send.
    h.time = T0 + WINDOW + 1;
    record();
    h.time = T0 + 2 * WINDOW - 1;
    record();
    assert.equal(h.sent.length, 2);
    h.time = T0 + 2 * WINDOW;
    record();
    assert.equal(h.sent.length, 3);
  });

  it('defaults to a ten-minute window', () => {
    const r = h.recorder(null);
    r.record(cascade(), 'Normal', 'Created', 'm');
    h.time = T0 + 10 * 60_000 - 1;
    r.record(cascade(), 'Normal', 'Created', 'm');
    assert.equal(h.sent.length, 1);
    h.time = T0 + 10 * 60_000;
    r.record(cascade(), 'Normal', 'Created', 'm');
    assert.equal(h.sent.length, 2);
  });

  const distinct: [string, Parameters<KubeEventRecorder['record']>][] = [
    ['a different reason', [cascade(), 'Normal', 'Updated', 'Deployment x']],
    ['a different message', [cascade(), 'Normal', 'Created', 'Deployment y']],
    ['a different type', [cascade(), 'Warning', 'Created', 'Deployment x']],
    ['a different cascade (uid)', [cascade('other', 'uid-2'), 'Normal', 'Created', 'Deployment x']],
    ['a recreated cascade with the same name', [cascade('fraud-scorer', 'uid-3'), 'Normal', 'Created', 'Deployment x']],
  ];
  for (const [what, args] of distinct) {
    it(`sends ${what} separately within the window`, () => {
      const r = h.recorder();
      r.record(cascade(), 'Normal', 'Created', 'Deployment x');
      r.record(...args);
      r.record(...args);
      assert.equal(h.sent.length, 2);
      assert.deepEqual([h.sent[1]!.body.type, h.sent[1]!.body.reason, h.sent[1]!.body.message, h.sent[1]!.body.involvedObject.uid],
        [args[1], args[2], args[3], args[0].metadata.uid]);
    });
  }

  const failures: [string, unknown, string][] = [
    ['a plain error', new Error('connection refused'), 'connection refused'],
    ['an API error', { code: 403, body: '{"message":"events is forbidden"}' }, 'HTTP 403: events is forbidden'],
  ];
  for (const [what, error, logged] of failures) {
    it(`logs, and does not throw, when the create fails with ${what}`, async () => {
      h.fail = error;
      const r = h.recorder();
      assert.doesNotThrow(() => r.record(cascade(), 'Warning', 'ApplyFailed', 'boom'));
      await settle();
      assert.equal(h.sent.length, 1);
      assert.deepEqual(h.warnings, [{ message: 'could not record event', meta: { reason: 'ApplyFailed', cascade: 'ml/fraud-scorer', error: logged } }]);
    });
  }

  it('logs nothing when the create succeeds', async () => {
    h.recorder().record(cascade(), 'Normal', 'Created', 'ok');
    await settle();
    assert.deepEqual(h.warnings, []);
  });
});
