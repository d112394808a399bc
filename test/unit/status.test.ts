import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { CascadeStatus, Condition, ConditionType, InferenceCascade } from '../../crds/types.js';
import { defaultBuildOptions } from '../../operator/desired/index.js';
import {
  CACHE_STATE_ANNOTATION,
  computeStatus,
  awaitingAppliedGeneration,
  deploymentAvailability,
  mergeConditions,
  type ObservedDeployment,
} from '../../operator/status.js';

const SAMPLE = new URL('../../manifests/samples/cascade.yaml', import.meta.url);
const NAME = 'fraud-scorer';
const NS = 'ml-serving';
const T0 = new Date('2026-03-01T10:00:00.000Z');
const T1 = new Date('2026-03-01T10:05:30.789Z');
const T1_TEXT = '2026-03-01T10:05:30Z';
const VARIANTS = ['quantized', 'pruned', 'distilled', 'full'];
const ROUTER = `${NAME}-router`;

function sampleCascade(mutate: (c: InferenceCascade) => void = () => {}): InferenceCascade {
  const cascade = parse(readFileSync(SAMPLE, 'utf8')) as InferenceCascade;
  cascade.metadata = { name: NAME, namespace: NS, uid: 'uid-1', generation: 7 };
  mutate(cascade);
  return cascade;
}

/** A Deployment the controller has fully rolled out. */
function available(replicas: number, generation = 1): ObservedDeployment {
  return {
    metadata: { generation },
    spec: { replicas },
    status: {
      observedGeneration: generation, replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  };
}

function stalled(replicas: number): ObservedDeployment {
  return {
    metadata: { generation: 2 },
    spec: { replicas },
    status: {
      observedGeneration: 2, replicas, readyReplicas: 0, availableReplicas: 0, updatedReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' },
        { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet has timed out progressing.' },
      ],
    },
  };
}

/** All five Deployments of the sample cascade, fully available, with overrides. */
function allAvailable(cascade: InferenceCascade, overrides: Record<string, ObservedDeployment | undefined> = {}): Map<string, ObservedDeployment | undefined> {
  const map = new Map<string, ObservedDeployment | undefined>();
  for (const v of cascade.spec.variants) map.set(`${NAME}-${v.name ?? v.role}`, available(v.replicas));
  map.set(ROUTER, available(cascade.spec.router.replicas));
  for (const [name, d] of Object.entries(overrides)) map.set(name, d);
  return map;
}

function status(cascade: InferenceCascade, deployments: Map<string, ObservedDeployment | undefined> = new Map(), extra: { applyError?: string; now?: Date } = {}): CascadeStatus {
  return computeStatus({
    cascade,
    deployments: (name) => deployments.get(name),
    options: defaultBuildOptions,
    ...(extra.applyError ? { applyError: extra.applyError } : {}),
    now: extra.now ?? T1,
  });
}

function cond(s: CascadeStatus, type: ConditionType): Condition {
  const found = s.conditions?.find((c) => c.type === type);
  assert.ok(found, `no ${type} condition in ${JSON.stringify(s.conditions)}`);
  return found;
}

const brief = (c: Condition) => [c.status, c.reason];

describe('computeStatus', () => {
  it('reports Unknown/Progressing and 0/4 before any Deployment exists', () => {
    const s = status(sampleCascade());
    assert.deepEqual(s.conditions?.map((c) => c.type), ['Ready', 'VariantsAvailable', 'RouterAvailable', 'CacheDegraded']);
    assert.deepEqual(brief(cond(s, 'Ready')), ['Unknown', 'Progressing']);
    assert.deepEqual(brief(cond(s, 'VariantsAvailable')), ['False', 'VariantsProgressing']);
    for (const v of VARIANTS) assert.match(cond(s, 'VariantsAvailable').message, new RegExp(`\\b${v}\\b`));
    assert.deepEqual(brief(cond(s, 'RouterAvailable')), ['False', 'RouterProgressing']);
    assert.equal(s.variantsReady, '0/4');
    assert.deepEqual(s.variants?.map((v) => v.readyReplicas), [0, 0, 0, 0]);
    assert.deepEqual(s.router, { replicas: 2, readyReplicas: 0, endpoint: `http://${ROUTER}.${NS}.svc:8080` });
  });

  it('reports Ready True and 4/4 when every Deployment is available', () => {
    const cascade = sampleCascade();
    const s = status(cascade, allAvailable(cascade));
    assert.deepEqual(brief(cond(s, 'Ready')), ['True', 'Available']);
    assert.deepEqual(brief(cond(s, 'VariantsAvailable')), ['True', 'AllVariantsAvailable']);
    assert.deepEqual(brief(cond(s, 'RouterAvailable')), ['True', 'RouterAvailable']);
    assert.deepEqual(brief(cond(s, 'CacheDegraded')), ['False', 'NoDriftReported']);
    assert.equal(s.variantsReady, '4/4');
    assert.deepEqual(s.variants, [
      { role: 'quantized', name: 'quantized', placement: 'cpu', replicas: 2, readyReplicas: 2 },
      { role: 'pruned', name: 'pruned', placement: 'cpu', replicas: 1, readyReplicas: 1 },
      { role: 'distilled', name: 'distilled', placement: 'cpu', replicas: 1, readyReplicas: 1 },
      { role: 'full', name: 'full', placement: 'gpu', replicas: 1, readyReplicas: 1 },
    ]);
    assert.deepEqual(s.router, { replicas: 2, readyReplicas: 2, endpoint: `http://${ROUTER}.${NS}.svc:8080` });
    assert.deepEqual(s.cache, { reuse: 'Enabled', reason: 'NoDriftReported' });
  });

  it('looks Deployments up by the variant\'s custom name', () => {
    const cascade = sampleCascade((c) => { c.spec.variants[0]!.name = 'q8'; });
    const s = status(cascade, allAvailable(cascade));
    assert.equal(s.variantsReady, '4/4');
    assert.equal(s.variants?.[0]?.name, 'q8');
    const missing = allAvailable(cascade, { [`${NAME}-q8`]: undefined, [`${NAME}-quantized`]: available(2) });
    assert.equal(status(cascade, missing).variantsReady, '3/4');
  });

  it('waits (Ready Unknown) while the router is still rolling out', () => {
    const cascade = sampleCascade();
    const s = status(cascade, allAvailable(cascade, { [ROUTER]: undefined }));
    assert.equal(s.variantsReady, '4/4');
    assert.deepEqual(brief(cond(s, 'VariantsAvailable')), ['True', 'AllVariantsAvailable']);
    assert.deepEqual(brief(cond(s, 'RouterAvailable')), ['False', 'RouterProgressing']);
    assert.deepEqual(brief(cond(s, 'Ready')), ['Unknown', 'Progressing']);
  });

  it('reports a variant whose rollout exceeded its progress deadline', () => {
    const cascade = sampleCascade();
    const s = status(cascade, allAvailable(cascade, { [`${NAME}-full`]: stalled(1) }));
    const variants = cond(s, 'VariantsAvailable');
    assert.deepEqual(brief(variants), ['False', 'ProgressDeadlineExceeded']);
    assert.match(variants.message, /\bfull\b/);
    assert.deepEqual(brief(cond(s, 'Ready')), ['False', 'RolloutStalled']);
    assert.equal(s.variantsReady, '3/4');
  });

  it('reports a router whose rollout exceeded its progress deadline', () => {
    const cascade = sampleCascade();
    const s = status(cascade, allAvailable(cascade, { [ROUTER]: stalled(2) }));
    assert.deepEqual(brief(cond(s, 'RouterAvailable')), ['False', 'ProgressDeadlineExceeded']);
    assert.deepEqual(brief(cond(s, 'Ready')), ['False', 'RolloutStalled']);
  });

  it('does not count a Deployment whose status is for an older generation', () => {
    const cascade = sampleCascade();
    const stale = available(1, 3);
    stale.metadata!.generation = 4;
    const s = status(cascade, allAvailable(cascade, { [`${NAME}-pruned`]: stale }));
    assert.equal(s.variantsReady, '3/4');
    assert.deepEqual(brief(cond(s, 'Ready')), ['Unknown', 'Progressing']);
  });

  it('reports Ready False ApplyFailed after a failed apply, even when everything is available', () => {
    const cascade = sampleCascade();
    const s = status(cascade, allAvailable(cascade), { applyError: 'Service fraud-scorer-full: HTTP 422: invalid' });
    const ready = cond(s, 'Ready');
    assert.deepEqual(brief(ready), ['False', 'ApplyFailed']);
    assert.equal(ready.message, 'Service fraud-scorer-full: HTTP 422: invalid');
    assert.equal(s.variantsReady, '4/4');
  });

  it('copies metadata.generation into observedGeneration and every condition', () => {
    for (const generation of [1, 7, 42]) {
      const s = status(sampleCascade((c) => { c.metadata.generation = generation; }));
      assert.equal(s.observedGeneration, generation);
      for (const c of s.conditions ?? []) assert.equal(c.observedGeneration, generation, c.type);
    }
  });

  describe('lastTransitionTime', () => {
    const previous = (ready: Condition['status']): Condition[] => [
      { type: 'Ready', status: ready, reason: 'Old', message: 'old', lastTransitionTime: '2026-03-01T10:00:00Z' },
    ];

    it('keeps the previous time when the status did not change', () => {
      const cascade = sampleCascade((c) => { c.status = { conditions: previous('True') }; });
      const ready = cond(status(cascade, allAvailable(cascade)), 'Ready');
      assert.equal(ready.status, 'True');
      assert.equal(ready.reason, 'Available');
      assert.equal(ready.lastTransitionTime, '2026-03-01T10:00:00Z');
    });

    it('moves to now (whole seconds) when the status changed', () => {
      const cascade = sampleCascade((c) => { c.status = { conditions: previous('True') }; });
      const ready = cond(status(cascade), 'Ready');
      assert.equal(ready.status, 'Unknown');
      assert.equal(ready.lastTransitionTime, T1_TEXT);
    });

    it('sets now for a condition seen for the first time', () => {
      const s = status(sampleCascade(), new Map(), { now: T0 });
      for (const c of s.conditions ?? []) assert.equal(c.lastTransitionTime, '2026-03-01T10:00:00Z', c.type);
    });
  });

  describe('cache', () => {
    const cases: [string, (c: InferenceCascade) => void, CascadeStatus['cache'], [string, string]][] = [
      ['disabled in spec', (c) => { c.spec.cache.enabled = false; }, { reuse: 'Disabled', reason: 'DisabledInSpec' }, ['False', 'DisabledInSpec']],
      ['disabled in spec, even with a drift report', (c) => {
        c.spec.cache.enabled = false;
        c.metadata.annotations = { [CACHE_STATE_ANNOTATION]: '{"reuse":"Disabled","reason":"DriftDetected"}' };
      }, { reuse: 'Disabled', reason: 'DisabledInSpec' }, ['False', 'DisabledInSpec']],
      ['enabled with no report', () => {}, { reuse: 'Enabled', reason: 'NoDriftReported' }, ['False', 'NoDriftReported']],
      ['drift reported by the router', (c) => {
        c.metadata.annotations = { [CACHE_STATE_ANNOTATION]: '{"reuse":"Disabled","reason":"DriftDetected"}' };
      }, { reuse: 'Disabled', reason: 'DriftDetected' }, ['True', 'DriftDetected']],
      ['reuse disabled by the router without a reason', (c) => {
        c.metadata.annotations = { [CACHE_STATE_ANNOTATION]: '{"reuse":"Disabled"}' };
      }, { reuse: 'Disabled', reason: 'ReportedByRouter' }, ['True', 'ReportedByRouter']],
      ['reuse re-enabled by the router', (c) => {
        c.metadata.annotations = { [CACHE_STATE_ANNOTATION]: '{"reuse":"Enabled","reason":"DriftCleared"}' };
      }, { reuse: 'Enabled', reason: 'NoDriftReported' }, ['False', 'NoDriftReported']],
      ['an unreadable report', (c) => {
        c.metadata.annotations = { [CACHE_STATE_ANNOTATION]: '{not json' };
      }, { reuse: 'Enabled', reason: 'UnreadableReport' }, ['False', 'UnreadableReport']],
    ];
    for (const [what, mutate, cache, degraded] of cases) {
      it(`cache ${what}`, () => {
        const cascade = sampleCascade(mutate);
        const s = status(cascade, allAvailable(cascade));
        assert.deepEqual(s.cache, cache);
        assert.deepEqual(brief(cond(s, 'CacheDegraded')), degraded);
        // A degraded cache does not make the cascade unready.
        assert.deepEqual(brief(cond(s, 'Ready')), ['True', 'Available']);
      });
    }
  });

  it('does not mutate its inputs', () => {
    const cascade = sampleCascade((c) => { c.status = { conditions: [{ type: 'Ready', status: 'True', reason: 'A', message: 'a', lastTransitionTime: 'x' }] }; });
    const before = structuredClone(cascade);
    status(cascade, allAvailable(cascade, { [`${NAME}-full`]: stalled(1) }));
    assert.deepEqual(cascade, before);
  });
});

describe('deploymentAvailability', () => {
  const base = available(2);
  const withStatus = (patch: Partial<NonNullable<ObservedDeployment['status']>>): ObservedDeployment => ({ ...base, status: { ...base.status, ...patch } });
  const cases: [string, ObservedDeployment | undefined, number, { available: boolean; readyReplicas: number; failed?: string; detail?: string }][] = [
    ['a missing Deployment', undefined, 2, { available: false, readyReplicas: 0 }],
    ['a Deployment without status', { metadata: { generation: 1 } }, 2, { available: false, readyReplicas: 0 }],
    ['a fully available Deployment', base, 2, { available: true, readyReplicas: 2 }],
    ['too few available replicas', withStatus({ availableReplicas: 1, readyReplicas: 1 }), 2, { available: false, readyReplicas: 1 }],
    ['too few updated replicas (mid rollout)', withStatus({ updatedReplicas: 1 }), 2, { available: false, readyReplicas: 2 }],
    ['surge pods still present', withStatus({ replicas: 3 }), 2, { available: false, readyReplicas: 2 }],
    ['a spec asking for more replicas than exist', base, 3, { available: false, readyReplicas: 2 }],
    ['a stale observedGeneration', withStatus({ observedGeneration: 0 }), 2, { available: false, readyReplicas: 2 }],
    ['a newer observedGeneration', withStatus({ observedGeneration: 2 }), 2, { available: true, readyReplicas: 2 }],
    ['scaled to zero', { metadata: { generation: 1 }, status: { observedGeneration: 1 } }, 0, { available: true, readyReplicas: 0 }],
    ['scaling to zero, pods still present', { metadata: { generation: 1 }, status: { observedGeneration: 1, replicas: 1 } }, 0, { available: false, readyReplicas: 0 }],
    ['a stalled rollout', stalled(1), 1, { available: false, readyReplicas: 0, failed: 'ProgressDeadlineExceeded', detail: 'ReplicaSet has timed out progressing.' }],
    ['pods the ReplicaSet cannot create (a quota): failed at once, with the reason and message', withStatus({ availableReplicas: 0, readyReplicas: 0, conditions: [
      { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
      { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "x" is forbidden: exceeded quota: pods' },
    ] }), 2, { available: false, readyReplicas: 0, failed: 'FailedCreate', detail: 'pods "x" is forbidden: exceeded quota: pods' }],
    ['Progressing False without a reason', withStatus({ availableReplicas: 0, conditions: [{ type: 'Progressing', status: 'False' }] }), 2,
      { available: false, readyReplicas: 2, failed: 'ProgressStalled' }],
    ['a ReplicaFailure of a generation the controller has not seen yet is not this generation\'s failure', { ...withStatus({ availableReplicas: 0, conditions: [
      { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'exceeded quota' },
    ] }), metadata: { generation: 2 } }, 2, { available: false, readyReplicas: 2 }],
    ['Available False alone is not a failure', withStatus({ availableReplicas: 0, conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }] }), 2,
      { available: false, readyReplicas: 2 }],
  ];
  for (const [what, deployment, want, expected] of cases) {
    it(what, () => {
      assert.deepEqual(deploymentAvailability(deployment, want), expected);
    });
  }
});

describe('awaitingAppliedGeneration', () => {
  it('judges a cached Deployment older than the generation just applied as not rolled out', () => {
    const cached: ObservedDeployment = { ...available(2, 3), metadata: { generation: 3, uid: 'u1' } };
    assert.equal(deploymentAvailability(cached, 2).available, true);
    const judged = awaitingAppliedGeneration(cached, { uid: 'u1', generation: 4 });
    assert.equal(judged?.metadata?.generation, 4);
    assert.equal(deploymentAvailability(judged, 2).available, false, 'the previous generation\'s status says nothing of the new one');
    assert.equal(awaitingAppliedGeneration(cached, { uid: 'u1', generation: 3 }), cached, 'the cache has caught up');
    assert.equal(awaitingAppliedGeneration(cached, undefined), cached);
    assert.equal(awaitingAppliedGeneration(undefined, { uid: 'u1', generation: 4 }), undefined);
  });

  it('judges a cached object with another uid (deleted and created again) as saying nothing of the applied one', () => {
    const stale: ObservedDeployment = { ...available(2, 7), metadata: { generation: 7, uid: 'old' } };
    const judged = awaitingAppliedGeneration(stale, { uid: 'new', generation: 1 });
    assert.notEqual(judged, stale, 'a higher cached generation of another object does not count as caught up');
    assert.equal(deploymentAvailability(judged, 2).available, false);
  });

  it('keeps Ready off True for a new cascade generation until its Deployments report it rolled out', () => {
    const cascade = sampleCascade();
    const deployments = allAvailable(cascade);
    const applied = new Map([[`${NAME}-full`, { uid: 'u-full', generation: 2 }]]);
    const s = computeStatus({
      cascade, options: defaultBuildOptions, now: T1,
      deployments: (name) => awaitingAppliedGeneration(deployments.get(name), applied.get(name)),
    });
    assert.notEqual(cond(s, 'Ready')!.status, 'True');
    assert.match(cond(s, 'VariantsAvailable')!.message, /waiting for full/);
  });
});

describe('failure messages', () => {
  it('name every failing Deployment with its reason and the condition message', () => {
    const cascade = sampleCascade();
    const quota: ObservedDeployment = { ...stalled(1), status: { ...stalled(1).status, conditions: [
      { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "fraud-scorer-pruned-x" is forbidden: exceeded quota: q' },
    ] } };
    const s = status(cascade, allAvailable(cascade, { [`${NAME}-full`]: stalled(1), [`${NAME}-pruned`]: quota, [ROUTER]: stalled(2) }));
    const variants = cond(s, 'VariantsAvailable')!;
    assert.equal(variants.status, 'False');
    assert.match(variants.message, /variant pruned \(Deployment fraud-scorer-pruned\): FailedCreate: pods "fraud-scorer-pruned-x" is forbidden: exceeded quota: q/);
    assert.match(variants.message, /variant full \(Deployment fraud-scorer-full\): ProgressDeadlineExceeded: ReplicaSet has timed out progressing\./);
    assert.match(cond(s, 'RouterAvailable')!.message, /^router \(Deployment fraud-scorer-router\): ProgressDeadlineExceeded/);
    const ready = cond(s, 'Ready')!;
    assert.deepEqual([ready.status, ready.reason], ['False', 'RolloutStalled']);
    assert.match(ready.message, /fraud-scorer-pruned.*fraud-scorer-full.*fraud-scorer-router/);
  });
});

describe('mergeConditions', () => {
  const prev: Condition[] = [
    { type: 'Ready', status: 'True', reason: 'Available', message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 },
    { type: 'CacheDegraded', status: 'False', reason: 'NoDriftReported', message: 'm', lastTransitionTime: '2026-01-02T00:00:00Z' },
  ];

  it('keeps the time across reason/message changes with the same status, and resets it on a status change', () => {
    const merged = mergeConditions(prev, [
      { type: 'Ready', status: 'True', reason: 'Other', message: 'changed' },
      { type: 'CacheDegraded', status: 'True', reason: 'DriftDetected', message: 'drift' },
      { type: 'RouterAvailable', status: 'False', reason: 'RouterProgressing', message: 'new' },
    ], T1, 5);
    assert.deepEqual(merged, [
      { type: 'Ready', status: 'True', reason: 'Other', message: 'changed', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 5 },
      { type: 'CacheDegraded', status: 'True', reason: 'DriftDetected', message: 'drift', lastTransitionTime: T1_TEXT, observedGeneration: 5 },
      { type: 'RouterAvailable', status: 'False', reason: 'RouterProgressing', message: 'new', lastTransitionTime: T1_TEXT, observedGeneration: 5 },
    ]);
  });

  it('drops conditions that are no longer reported and omits observedGeneration without a generation', () => {
    const merged = mergeConditions(prev, [{ type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'x' }], T0);
    assert.deepEqual(merged, [{ type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'x', lastTransitionTime: '2026-03-01T10:00:00Z' }]);
  });
});
