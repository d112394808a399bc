// Embeddings by prefix key (./prefix-key.ts), bounded by entry count (and optionally bytes) with a
// TTL the drift agent can shorten. Caching is an optimisation, never a dependency: with reuse off,
// `get` returns nothing and every request is computed fresh.
//
// Counting:
// - hits / misses: `get` calls while reuse is enabled.
// - bypassed: `get` calls while reuse is disabled; they are neither hits nor misses, so the hit
//   ratio describes the cache itself rather than the agent's decision.
// - evictions: live entries dropped to make room (maxEntries or maxBytes).
// - expirations: entries dropped because their TTL ran out. Expiry is lazy (no timers): an expired
//   entry is noticed when it is read, purged (`purgeExpired`), or reaches the LRU tail, so `size`
//   can include expired entries that nobody has touched yet.
// Entries keep being stored while reuse is disabled, so the agent can compare them with fresh
// embeddings (`peek`) and notice when reuse is safe again.
import { LRUCache } from 'lru-cache';
import { monotonicClock, type Clock } from '../clock.js';

export interface PrefixCacheOptions {
  maxEntries: number;
  ttlMs: number;
  /** Optional second bound on the summed byteLength of the stored embeddings. */
  maxBytes?: number;
  clock?: Clock;
}

export interface PrefixCacheStats {
  hits: number;
  misses: number;
  bypassed: number;
  evictions: number;
  expirations: number;
  size: number;
  /** Summed embedding bytes; only tracked when maxBytes is set. */
  bytes?: number;
  reuseEnabled: boolean;
  reuseReason: string;
  ttlMs: number;
}

interface Entry {
  embedding: Float32Array;
  storedAt: number;
  /** Place in store order. */
  seq: number;
  ttlMs: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

export class PrefixCache {
  private lru: LRUCache<string, Entry>;
  private maxEntries: number;
  private readonly maxBytes: number | undefined;
  private readonly clock: Clock;
  private readonly tracksBytes: boolean;
  private ttlMs: number;
  /** How many entries were ever stored: each entry's place in store order (see mark). */
  private stored = 0;
  /** Entries stored before this mark count as expired (see expireStoredBefore). */
  private staleBefore = 0;
  private reuse = true;
  private reuseReason = 'Enabled';
  private hits = 0;
  private misses = 0;
  private bypassed = 0;
  private evictions = 0;
  private expirations = 0;

  constructor(options: PrefixCacheOptions) {
    this.clock = options.clock ?? monotonicClock;
    this.ttlMs = positiveInteger('ttlMs', options.ttlMs);
    this.tracksBytes = options.maxBytes !== undefined;
    this.maxBytes = options.maxBytes === undefined ? undefined : positiveInteger('maxBytes', options.maxBytes);
    this.maxEntries = positiveInteger('maxEntries', options.maxEntries);
    this.lru = this.createLru(this.maxEntries);
  }

  private createLru(maxEntries: number): LRUCache<string, Entry> {
    const clock = this.clock;
    return new LRUCache<string, Entry>({
      max: maxEntries,
      ttl: this.ttlMs,
      // lru-cache caches "now" for ttlResolution ms behind a timer; read the clock every time so
      // an injected clock is honoured exactly.
      ttlResolution: 0,
      // lru-cache treats a start time of 0 as "no TTL"; shifting by 1 ms keeps every age the same
      // while making sure a clock that starts at 0 still expires entries.
      perf: { now: () => clock() + 1 },
      ...(this.maxBytes !== undefined
        ? { maxSize: this.maxBytes, sizeCalculation: (entry: Entry) => Math.max(1, entry.embedding.byteLength) }
        : {}),
      dispose: (entry, _key, reason) => this.onDispose(entry, reason),
    });
  }

  /**
   * A new bound on the entry count (a reloaded cache.maxEntries). Entries are kept with their
   * recency and expiry; shrinking evicts the least recently used ones, counted as evictions.
   */
  setMaxEntries(maxEntries: number): void {
    positiveInteger('maxEntries', maxEntries);
    if (maxEntries === this.maxEntries) return;
    const previous = this.lru;
    previous.purgeStale(); // counted as expirations by its dispose hook
    this.maxEntries = maxEntries;
    this.lru = this.createLru(maxEntries);
    const now = this.clock();
    for (const [key, entry] of previous.rentries() as Generator<[string, Entry]>) {
      // Least recently used first, so the most recent end up at the head again.
      this.lru.set(key, entry, { ttl: Math.max(1, entry.ttlMs - (now - entry.storedAt)) });
    }
  }

  get reuseEnabled(): boolean {
    return this.reuse;
  }

  /** The embedding to reuse, or undefined on a miss or while reuse is disabled. */
  get(key: string): Float32Array | undefined {
    if (!this.reuse) {
      this.bypassed++;
      return undefined;
    }
    const embedding = this.live(key, this.lru.get(key));
    if (embedding) this.hits++;
    else this.misses++;
    return embedding;
  }

  /**
   * The stored embedding whatever the reuse flag, without counting a hit or miss or refreshing its
   * recency: for shadow comparisons while reuse is disabled. Expired entries are still not returned.
   */
  peek(key: string): Float32Array | undefined {
    return this.live(key, this.lru.peek(key, { allowStale: true }));
  }

  /** Stores (or replaces) the embedding; the cache keeps the array, so do not mutate it afterwards. */
  set(key: string, embedding: Float32Array): void {
    this.lru.set(key, { embedding, storedAt: this.clock(), seq: this.stored++, ttlMs: this.ttlMs }, { ttl: this.ttlMs });
  }

  /** Returns whether the flag changed. */
  setReuse(enabled: boolean, reason: string): boolean {
    const changed = enabled !== this.reuse;
    this.reuse = enabled;
    this.reuseReason = reason;
    return changed;
  }

  /**
   * New entries get this TTL. A shorter TTL also applies at once to entries already stored: they
   * are treated as expired when older than it. A longer one does not extend them.
   */
  setTtl(ms: number): void {
    this.ttlMs = positiveInteger('ttlMs', ms);
  }

  /** The store-order mark of the next entry: entries stored from now on are at or after it. */
  mark(): number {
    return this.stored;
  }

  /**
   * Every entry stored before `mark` (from `mark()`) counts as expired from now on: the agent's
   * answer to drift, whose onset lies somewhere before the samples that revealed it. Store order,
   * not time, so the same traffic expires the same entries however fast it runs. O(1): lazy.
   */
  expireStoredBefore(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0) throw new RangeError(`expireStoredBefore needs a mark from mark(), got ${mark}`);
    this.staleBefore = Math.max(this.staleBefore, mark);
  }

  /** Drops expired entries now; returns how many. */
  purgeExpired(): number {
    const before = this.expirations;
    this.lru.purgeStale();
    const now = this.clock();
    const shortened: string[] = [];
    for (const [key, entry] of this.lru.entries()) {
      if (this.expired(entry, now)) shortened.push(key);
    }
    for (const key of shortened) this.expire(key);
    return this.expirations - before;
  }

  /** Drops every entry (counted as neither eviction nor expiration); counters keep running. */
  clear(): void {
    this.lru.clear();
  }

  stats(): PrefixCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      bypassed: this.bypassed,
      evictions: this.evictions,
      expirations: this.expirations,
      size: this.lru.size,
      ...(this.tracksBytes ? { bytes: this.lru.calculatedSize } : {}),
      reuseEnabled: this.reuse,
      reuseReason: this.reuseReason,
      ttlMs: this.ttlMs,
    };
  }

  private live(key: string, entry: Entry | undefined): Float32Array | undefined {
    if (!entry) return undefined;
    if (this.expired(entry, this.clock())) {
      this.expire(key);
      return undefined;
    }
    return entry.embedding;
  }

  private expired(entry: Entry, now: number): boolean {
    return entry.seq < this.staleBefore || now - entry.storedAt > Math.min(entry.ttlMs, this.ttlMs);
  }

  private expire(key: string): void {
    this.lru.delete(key);
    this.expirations++;
  }

  private onDispose(entry: Entry, reason: LRUCache.DisposeReason): void {
    if (reason === 'expire') this.expirations++;
    // An entry pushed out of the LRU tail after its TTL ran out expired; it did not cost a live entry.
    else if (reason === 'evict') {
      if (this.expired(entry, this.clock())) this.expirations++;
      else this.evictions++;
    }
  }
}
