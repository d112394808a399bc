// The cache key: which cascade, model version and variant produced an embedding, plus the first
// `prefixLength` features rounded to `decimals` places, so float noise below that precision (and
// the sign of zero) does not split one input into several keys. Values that straddle a rounding
// boundary can still land on different keys; that is inherent to any rounding.

export const DEFAULT_KEY_DECIMALS = 4;

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
