import assert from 'node:assert/strict';
import { PrefixCache } from '../../router-sidecar/cache/prefix-cache.js';
import { prefixKey, type PrefixKeyInput } from '../../router-sidecar/cache/prefix-key.js';

function key(overrides: Partial<PrefixKeyInput> = {}): string {
  return prefixKey({ cascade: 'ns/fraud', modelVersion: '1', variant: 'full', features: [0.1, 0.2, 0.3, 0.4], prefixLength: 3, ...overrides });
}

describe('prefixKey', () => {
  it('depends only on the first prefixLength features', () => {
    assert.equal(key({ features: [0.1, 0.2, 0.3, 0.4] }), key({ features: [0.1, 0.2, 0.3, 99] }));
    assert.notEqual(key({ features: [0.1, 0.2, 0.3, 0.4] }), key({ features: [0.1, 0.2, 0.31, 0.4] }));
  });

  it('rounds away float noise below the precision', () => {
    assert.equal(key({ features: [0.1, 0.2, 0.3] }), key({ features: [0.1 + 1e-7, 0.2 - 1e-7, 0.30000000000000004] }));
    assert.equal(key({ features: new Float32Array([0.1, 0.2, 0.3]) }), key({ features: [0.1, 0.2, 0.3] }));
    assert.notEqual(key({ features: [0.1, 0.2, 0.3] }), key({ features: [0.1, 0.2, 0.3001] }));
    assert.equal(key({ features: [0.1, 0.2, 0.3], decimals: 2 }), key({ features: [0.1, 0.2, 0.3004], decimals: 2 }));
    assert.notEqual(key({ features: [0.1, 0.2, 0.3], decimals: 2 }), key({ features: [0.1, 0.2, 0.31], decimals: 2 }));
  });

  it('gives -0 and 0 (and tiny values of either sign) the same key', () => {
    assert.equal(key({ features: [-0, 0, 0] }), key({ features: [0, 0, 0] }));
    assert.equal(key({ features: [-1e-9, 1e-9, 0] }), key({ features: [0, 0, 0] }));
    assert.ok(!key({ features: [-0, 0, 0] }).includes('-'));
  });

  it('separates cascades, model versions and variants', () => {
    const keys = new Set([key(), key({ cascade: 'ns/other' }), key({ modelVersion: '2' }), key({ variant: 'pruned' })]);
    assert.equal(keys.size, 4);
  });

  it('cannot be confused by separators inside the identity fields', () => {
    assert.notEqual(key({ cascade: 'a","b', modelVersion: 'c' }), key({ cascade: 'a', modelVersion: 'b","c' }));
  });

  it('rejects a prefix longer than the features or not a positive integer', () => {
    assert.throws(() => key({ prefixLength: 5 }), RangeError);
    assert.throws(() => key({ prefixLength: 0 }), RangeError);
    assert.throws(() => key({ prefixLength: 1.5 }), RangeError);
  });
});

/** A hand-driven clock. Starts at 0 on purpose: lru-cache reads a start time of 0 as "no TTL". */
function manualClock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

const vec = (...values: number[]) => new Float32Array(values);

describe('PrefixCache', () => {
  it('returns what was stored and counts hits and misses', () => {
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 1000 });
    const embedding = vec(1, 2, 3);
    cache.set('a', embedding);
    assert.equal(cache.get('a'), embedding);
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual(
      { ...cache.stats() },
      { hits: 1, misses: 1, bypassed: 0, evictions: 0, expirations: 0, size: 1, reuseEnabled: true, reuseReason: 'Enabled', ttlMs: 1000 },
    );
  });

  it('evicts the least recently used entry at capacity and counts it as an eviction', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 2, ttlMs: 1000, clock: clock.now });
    cache.set('a', vec(1));
    cache.set('b', vec(2));
    cache.get('a');
    cache.set('c', vec(3));
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a'));
    assert.ok(cache.get('c'));
    assert.equal(cache.stats().evictions, 1);
    assert.equal(cache.stats().expirations, 0);
    assert.equal(cache.stats().size, 2);
  });

  it('expires entries after the TTL and counts expirations, not evictions', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 1000, clock: clock.now });
    cache.set('a', vec(1));
    clock.advance(1000);
    assert.ok(cache.get('a'), 'an entry is live for exactly its TTL');
    clock.advance(1);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.stats().expirations, 1);
    assert.equal(cache.stats().evictions, 0);
    assert.equal(cache.stats().size, 0);
  });

  it('counts an expired entry that reaches the LRU tail as an expiration', () => {
    const clock = manualClock(5_000);
    const cache = new PrefixCache({ maxEntries: 2, ttlMs: 100, clock: clock.now });
    cache.set('old', vec(1));
    clock.advance(500);
    cache.set('b', vec(2));
    cache.set('c', vec(3));
    assert.deepEqual([cache.stats().expirations, cache.stats().evictions], [1, 0]);
    cache.set('d', vec(4));
    assert.deepEqual([cache.stats().expirations, cache.stats().evictions], [1, 1]);
  });

  it('does not count replacing or clearing as eviction or expiration', () => {
    const cache = new PrefixCache({ maxEntries: 2, ttlMs: 1000 });
    cache.set('a', vec(1));
    cache.set('a', vec(2));
    assert.deepEqual(cache.get('a'), vec(2));
    cache.clear();
    assert.equal(cache.get('a'), undefined);
    assert.deepEqual([cache.stats().evictions, cache.stats().expirations, cache.stats().size], [0, 0, 0]);
  });

  it('never returns an entry while reuse is disabled, and counts those lookups as bypassed', () => {
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 1000 });
    cache.set('a', vec(1));
    assert.equal(cache.setReuse(false, 'DriftDetected'), true);
    assert.equal(cache.setReuse(false, 'DriftDetected'), false);
    assert.equal(cache.reuseEnabled, false);
    assert.equal(cache.get('a'), undefined);
    cache.set('b', vec(2));
    assert.equal(cache.get('b'), undefined);
    const stats = cache.stats();
    assert.deepEqual([stats.hits, stats.misses, stats.bypassed, stats.size], [0, 0, 2, 2]);
    assert.deepEqual([stats.reuseEnabled, stats.reuseReason], [false, 'DriftDetected']);
    cache.setReuse(true, 'DriftCleared');
    assert.ok(cache.get('b'), 'entries stored while disabled are served once reuse is back');
  });

  it('lets the agent peek while reuse is disabled without counting or refreshing', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 2, ttlMs: 1000, clock: clock.now });
    cache.set('a', vec(1));
    cache.set('b', vec(2));
    cache.setReuse(false, 'DriftDetected');
    assert.deepEqual(cache.peek('a'), vec(1));
    assert.equal(cache.peek('missing'), undefined);
    const { hits, misses, bypassed } = cache.stats();
    assert.deepEqual([hits, misses, bypassed], [0, 0, 0]);
    cache.set('c', vec(3));
    assert.equal(cache.peek('a'), undefined, 'peek did not make "a" recently used');
    clock.advance(1001);
    assert.equal(cache.peek('b'), undefined, 'peek does not return expired entries');
    assert.equal(cache.stats().expirations, 1);
  });

  it('gives new entries a shortened TTL and applies it at once to older ones', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 1000, clock: clock.now });
    cache.set('old', vec(1));
    clock.advance(300);
    cache.setTtl(200);
    assert.equal(cache.stats().ttlMs, 200);
    assert.equal(cache.get('old'), undefined, 'older than the new TTL');
    cache.set('new', vec(2));
    clock.advance(200);
    assert.ok(cache.get('new'));
    clock.advance(1);
    assert.equal(cache.get('new'), undefined);
    assert.equal(cache.stats().expirations, 2);
  });

  it('expires entries stored before a store-order mark, keeps later ones, and counts expirations', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 10_000, clock: clock.now });
    assert.equal(cache.mark(), 0);
    cache.set('oldest', vec(1));
    cache.set('older', vec(2));
    const mark = cache.mark();
    assert.equal(mark, 2);
    cache.set('recent', vec(3));
    cache.expireStoredBefore(mark);
    assert.equal(cache.get('oldest'), undefined);
    assert.equal(cache.peek('older'), undefined, 'not even for shadow comparisons');
    assert.ok(cache.get('recent'), 'stored at the mark');
    cache.expireStoredBefore(cache.mark());
    assert.equal(cache.get('recent'), undefined, 'everything stored so far');
    cache.set('fresh', vec(4));
    assert.ok(cache.get('fresh'), 'entries stored from now on are unaffected');
    clock.advance(5_000);
    assert.ok(cache.get('fresh'), 'and keep their full TTL');
    cache.expireStoredBefore(1);
    assert.ok(cache.get('fresh'), 'an older mark never brings expired entries back or expires newer ones');
    assert.equal(cache.stats().expirations, 3);
    assert.throws(() => cache.expireStoredBefore(-1), /a mark from mark\(\)/);
  });

  it('does not extend entries when the TTL grows', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 100, clock: clock.now });
    cache.set('a', vec(1));
    cache.setTtl(10_000);
    clock.advance(101);
    assert.equal(cache.get('a'), undefined);
    cache.set('b', vec(2));
    clock.advance(5_000);
    assert.ok(cache.get('b'));
  });

  it('purges expired entries on demand', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 10, ttlMs: 1000, clock: clock.now });
    cache.set('a', vec(1));
    cache.set('b', vec(2));
    clock.advance(600);
    cache.set('c', vec(3));
    clock.advance(500);
    assert.equal(cache.purgeExpired(), 2);
    assert.equal(cache.stats().size, 1);
    cache.setTtl(100);
    assert.equal(cache.purgeExpired(), 1, 'the shortened TTL applies to the survivor');
    assert.equal(cache.stats().size, 0);
    assert.equal(cache.stats().expirations, 3);
  });

  it('bounds memory by bytes when maxBytes is set', () => {
    const cache = new PrefixCache({ maxEntries: 100, ttlMs: 1000, maxBytes: 64 });
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, new Float32Array(4));
    const stats = cache.stats();
    assert.equal(stats.bytes, 64);
    assert.equal(stats.size, 4);
    assert.equal(stats.evictions, 1);
    assert.equal(cache.get('k0'), undefined);
  });

  it('takes a new entry bound at once, keeping entries, recency and expiry; shrinking evicts the least recently used', () => {
    const clock = manualClock();
    const cache = new PrefixCache({ maxEntries: 2, ttlMs: 1000, clock: clock.now });
    cache.setMaxEntries(4);
    for (const k of ['a', 'b', 'c', 'd']) cache.set(k, vec(1));
    assert.equal(cache.stats().size, 4, 'room for four after growing from two');
    assert.equal(cache.stats().evictions, 0);
    clock.advance(600);
    cache.get('a'); // a is now the most recently used
    cache.setMaxEntries(2);
    assert.equal(cache.stats().size, 2);
    assert.equal(cache.stats().evictions, 2);
    assert.ok(cache.peek('a') && cache.peek('d'), 'the two most recently used stay');
    assert.equal(cache.peek('b'), undefined);
    clock.advance(400);
    assert.ok(cache.get('a'), 'still live at exactly its TTL');
    clock.advance(1);
    assert.equal(cache.get('d'), undefined, 'expiry is kept from the original store time');
    assert.throws(() => cache.setMaxEntries(0), /maxEntries must be a positive integer/);
  });

  it('rejects bounds that are not positive integers', () => {
    assert.throws(() => new PrefixCache({ maxEntries: 0, ttlMs: 1000 }), /maxEntries must be a positive integer/);
    assert.throws(() => new PrefixCache({ maxEntries: 1, ttlMs: 0 }), /ttlMs must be a positive integer/);
    assert.throws(() => new PrefixCache({ maxEntries: 1, ttlMs: 1, maxBytes: 0.5 }), /maxBytes must be a positive integer/);
    assert.throws(() => new PrefixCache({ maxEntries: 1, ttlMs: 1 }).setTtl(-5), /ttlMs must be a positive integer/);
  });
});
