// The cache key: which cascade, model version and variant produced an embedding, plus the first
// `prefixLength` features rounded to `decimals` places, so float noise below that precision (and
// the sign of zero) does not split one input into several keys. Values that straddle a rounding
// boundary can still land on different keys; that is inherent to any rounding.

export const DEFAULT_KEY_DECIMALS = 4;

/**
 * What identifies a variant's model in cache keys: its version and, when known, its URI, so a new
 * model at a new URI never reads the old model's embeddings even if nobody bumped the version.
 */
export function modelIdentity(variant: { modelVersion: string; modelUri?: string }): string {
  return variant.modelUri ? `${variant.modelVersion}@${variant.modelUri}` : variant.modelVersion;
}

export interface PrefixKeyInput {
  cascade: string;
  modelVersion: string;
  variant: string;
  features: ArrayLike<number>;
  prefixLength: number;
  decimals?: number;
}

export function prefixKey({ cascade, modelVersion, variant, features, prefixLength, decimals = DEFAULT_KEY_DECIMALS }: PrefixKeyInput): string {
  if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > features.length) {
    throw new RangeError(`prefixLength must be an integer from 1 to ${features.length} (the feature count), got ${prefixLength}`);
  }
  const scale = 10 ** decimals;
  // JSON quoting keeps the identity fields unambiguous whatever characters they contain.
  let key = JSON.stringify([cascade, modelVersion, variant]);
  for (let i = 0; i < prefixLength; i++) {
    // Integers of the scaled value rather than toFixed: cheaper, and `+ 0` maps -0 to 0.
    key += `,${Math.round(features[i]! * scale) + 0}`;
  }
  return key;
}

/**
 * A number in [0, 1) fixed by the first `prefixLength` features (rounded like the key): requests of
 * one session land on the same side of any split, e.g. between a cache policy and its canary.
 */
export function prefixShare(features: ArrayLike<number>, prefixLength: number, decimals = DEFAULT_KEY_DECIMALS): number {
  const scale = 10 ** decimals;
  // FNV-1a over the rounded values' decimal text, then a 32-bit finalizer so close inputs spread out.
  let hash = 0x811c9dc5;
  const n = Math.min(prefixLength, features.length);
  for (let i = 0; i < n; i++) {
    const text = `${Math.round(features[i]! * scale) + 0},`;
    for (let c = 0; c < text.length; c++) {
      hash ^= text.charCodeAt(c);
      hash = Math.imul(hash, 0x01000193);
    }
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}
