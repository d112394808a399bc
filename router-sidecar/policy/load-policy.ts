// Builds the policy a RouterConfig asks for. A learned policy whose model is absent, corrupt or of
// the wrong shape degrades to the heuristic with a warning and a fallback report (for a
// policy_fallback_total{reason} metric): a bad policy file never stops the router.
import { fileURLToPath } from 'node:url';
import { errorMessage, type Logger } from '../../common/logger.js';
import type { PolicySpec } from '../../crds/types.js';
import { HeuristicPolicy, type HeuristicOptions } from './heuristic.js';
import { LearnedPolicy, openPolicySession, PolicyLoadError, type FallbackListener } from './learned.js';
import type { Policy } from './policy.js';
import { RandomPolicy } from './random.js';
import { RoundRobinPolicy } from './round-robin.js';
import { StaticPolicy } from './static.js';
import { DEFAULT_CONFIDENCE_THRESHOLD, ThresholdCascadePolicy } from './threshold-cascade.js';
import type { VariantProfiles } from './variant-profile.js';

export interface LoadPolicyOptions {
  spec: PolicySpec;
  profiles: VariantProfiles;
  logger: Logger;
  onFallback: FallbackListener;
  /** A local copy of spec.model; defaults to spec.model.uri when that is a file:// URI. */
  modelPath?: string;
  heuristic?: HeuristicOptions;
  /** The random policy's source, uniform in [0, 1); Math.random when omitted. */
  random?: () => number;
}

function modelFile(spec: PolicySpec, modelPath: string | undefined): string {
  if (modelPath) return modelPath;
  const uri = spec.model?.uri;
  if (!uri) throw new PolicyLoadError('no-model', 'policy.type is learned but no policy model is configured');
  if (!uri.startsWith('file://')) throw new PolicyLoadError('no-model', `policy model ${uri}: the router reads only local files and file:// URIs`);
  return fileURLToPath(uri);
}

export async function loadPolicy(options: LoadPolicyOptions): Promise<Policy> {
  const { spec, profiles, logger } = options;
  const heuristic = new HeuristicPolicy(profiles, options.heuristic);
  switch (spec.type) {
    case 'heuristic':
      return heuristic;
    case 'static':
      if (!spec.staticRole) throw new Error('policy.staticRole is required when policy.type is static');
      return new StaticPolicy(spec.staticRole, profiles);
    case 'random':
      return new RandomPolicy(profiles, options.random);
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'threshold-cascade':
      return new ThresholdCascadePolicy(profiles, spec.confidenceThreshold ?? DEFAULT_CONFIDENCE_THRESHOLD);
    case 'learned':
      try {
        const file = modelFile(spec, options.modelPath);
        const policy = new LearnedPolicy(await openPolicySession(file), heuristic, options.onFallback, logger);
        logger.info('loaded the learned routing policy', { file });
        return policy;
      } catch (err) {
        const failure = err instanceof PolicyLoadError ? err : new PolicyLoadError('unreadable-model', errorMessage(err));
        logger.warn('learned policy unavailable, routing with the heuristic', { reason: failure.reason, error: failure.message });
        options.onFallback(failure.reason, failure.message);
        return heuristic;
      }
  }
}
