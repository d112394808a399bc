import { strict as assert } from 'node:assert';
import { RequestError } from '../../common/http-json.js';
import { LATENCY_BUDGET_HEADER, MIN_ACCURACY_HEADER, parseHints, VARIANT_HEADER } from '../../router-sidecar/hints.js';
import type { RequestHints } from '../../router-sidecar/policy/policy.js';

describe('request hints', () => {
  const valid: [string, Record<string, string | string[] | undefined>, RequestHints | undefined][] = [
    ['no hint headers', { 'content-type': 'application/json' }, undefined],
    ['a latency budget', { [LATENCY_BUDGET_HEADER]: '25' }, { latencyBudgetMs: 25 }],
    ['an accuracy floor', { [MIN_ACCURACY_HEADER]: '0.95' }, { minAccuracy: 0.95 }],
    ['a pinned variant', { [VARIANT_HEADER]: 'distilled' }, { variant: 'distilled' }],
    ['a pinned variant with spaces around it', { [VARIANT_HEADER]: ' full ' }, { variant: 'full' }],
    ['a repeated header (the first counts)', { [VARIANT_HEADER]: ['pruned', 'full'] }, { variant: 'pruned' }],
    ['every hint at once', { [LATENCY_BUDGET_HEADER]: '100', [MIN_ACCURACY_HEADER]: '1', [VARIANT_HEADER]: 'quantized' },
      { latencyBudgetMs: 100, minAccuracy: 1, variant: 'quantized' }],
  ];
  for (const [what, headers, hints] of valid) {
    it(`reads ${what}`, () => assert.deepEqual(parseHints(headers), hints));
  }

  const invalid: [string, Record<string, string>, string][] = [
    ['an unknown variant', { [VARIANT_HEADER]: 'tiny' }, 'header x-cascade-variant must be one of quantized, pruned, distilled, full, got "tiny"'],
    ['a variant in the wrong case', { [VARIANT_HEADER]: 'Full' }, 'header x-cascade-variant must be one of quantized, pruned, distilled, full, got "Full"'],
    ['an empty variant', { [VARIANT_HEADER]: '' }, 'header x-cascade-variant must be one of quantized, pruned, distilled, full, got ""'],
    ['a negative budget', { [LATENCY_BUDGET_HEADER]: '-3' }, 'header x-latency-budget-ms must be a positive number of milliseconds, got "-3"'],
    ['an accuracy above 1', { [MIN_ACCURACY_HEADER]: '1.5' }, 'header x-min-accuracy must be a fraction in (0, 1], got "1.5"'],
  ];
  for (const [what, headers, message] of invalid) {
    it(`rejects ${what} with a 400 naming the header`, () => {
      assert.throws(() => parseHints(headers), (err: unknown) => {
        assert.ok(err instanceof RequestError);
        assert.equal(err.statusCode, 400);
        assert.equal(err.message, message);
        return true;
      });
    });
  }
});
