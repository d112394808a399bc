// The trained policy: an ONNX model on onnxruntime-node that maps the feature vector
// (./features.ts) to one score per role. Any failure to load or run it is reported through
// PolicyLoadError / the fallback listener, never thrown into the request path: the caller routes
// with the heuristic instead (./load-policy.ts).
import { readFile } from 'node:fs/promises';
// Namespace import: under mocha the default import of this CommonJS package comes out undefined.
import * as ort from 'onnxruntime-node';
import { errorMessage, type Logger } from '../../common/logger.js';
import { ROLES, type Role } from '../../crds/types.js';
import { FEATURE_COUNT, policyFeatures } from './features.js';
import { POLICY_INPUT, POLICY_OUTPUT } from './policy-graph.js';
import type { Policy, PolicyDecision, PolicyInput } from './policy.js';
import { sessionOptions } from '../../variant-server/runtime.js';

export type PolicyFallbackReason = 'no-model' | 'missing-file' | 'unreadable-model' | 'wrong-signature' | 'inference-error';

/** Called once per fallback: at load for a policy that cannot be used, per request for a failed run. */
export type FallbackListener = (reason: PolicyFallbackReason, detail: string) => void;

export class PolicyLoadError extends Error {
  override name = 'PolicyLoadError';
  constructor(
    readonly reason: PolicyFallbackReason,
    message: string,
  ) {
    super(message);
  }
}

function checkTensor(
  metadata: readonly ort.InferenceSession.ValueMetadata[],
  name: string,
  width: number,
  file: string,
): void {
  const value = metadata.find((m) => m.name === name);
  if (!value) throw new PolicyLoadError('wrong-signature', `${file}: has no ${name} tensor (has ${metadata.map((m) => m.name).join(', ') || 'none'})`);
  const shape = value.isTensor ? value.shape : [];
  if (!value.isTensor || value.type !== 'float32' || shape.length !== 2 || shape[1] !== width) {
    const seen = value.isTensor ? `${value.type} [${shape.join(', ')}]` : 'not a tensor';
    throw new PolicyLoadError('wrong-signature', `${file}: ${name} must be float32 [batch, ${width}], got ${seen}`);
  }
}

/** Opens and checks a policy model: input `features` [batch, FEATURE_COUNT], output `scores` [batch, 4]. */
export async function openPolicySession(file: string): Promise<ort.InferenceSession> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new PolicyLoadError(missing ? 'missing-file' : 'unreadable-model', `${file}: cannot read the policy model: ${errorMessage(err)}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(['cpu']));
  } catch (err) {
    throw new PolicyLoadError('unreadable-model', `${file}: not a loadable ONNX model: ${errorMessage(err)}`);
  }
  try {
    checkTensor(session.inputMetadata, POLICY_INPUT, FEATURE_COUNT, file);
    checkTensor(session.outputMetadata, POLICY_OUTPUT, ROLES.length, file);
  } catch (err) {
    await session.release();
    throw err;
  }
  return session;
}

/**
 * Roles by descending score (index i scores ROLES[i]), restricted to `allowed` unless that leaves
 * none. NaN scores rank last; undefined when no score is a number.
 */
export function rankByScore(scores: ArrayLike<number>, allowed?: ReadonlySet<Role>): Role[] | undefined {
  const restrict = allowed !== undefined && ROLES.some((role) => allowed.has(role));
  const scored: { role: Role; score: number }[] = [];
  let anyNumber = false;
  ROLES.forEach((role, i) => {
    if (restrict && !allowed.has(role)) return;
    const value = scores[i];
    const isNumber = value !== undefined && !Number.isNaN(value);
    anyNumber ||= isNumber;
    scored.push({ role, score: isNumber ? value : -Infinity });
  });
  if (!anyNumber) return undefined;
  // Stable sort: equal scores keep ROLES order.
  return scored.sort((a, b) => (b.score > a.score ? 1 : b.score < a.score ? -1 : 0)).map((s) => s.role);
}

export class LearnedPolicy implements Policy {
  readonly type = 'learned';
  private warned = false;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly fallback: Policy,
    private readonly onFallback: FallbackListener,
    private readonly logger: Logger,
  ) {}

  async decide(input: PolicyInput): Promise<PolicyDecision> {
    let scores: ArrayLike<number>;
    try {
      // A fresh buffer per call: onnxruntime reads it while other requests are being decided.
      const features = new ort.Tensor('float32', policyFeatures(input), [1, FEATURE_COUNT]);
      const output = (await this.session.run({ [POLICY_INPUT]: features }))[POLICY_OUTPUT];
      if (!output || !(output.data instanceof Float32Array) || output.data.length !== ROLES.length) {
        throw new Error(`${POLICY_OUTPUT} is not ${ROLES.length} float32 values`);
      }
      scores = output.data;
    } catch (err) {
      return this.fallBack(input, errorMessage(err));
    }
    const ranked = rankByScore(scores, input.allowed);
    if (!ranked) return this.fallBack(input, 'every score is NaN');
    return { role: ranked[0]!, ranked, reason: 'learned' };
  }

  release(): Promise<void> {
    return this.session.release();
  }

  private async fallBack(input: PolicyInput, detail: string): Promise<PolicyDecision> {
    this.onFallback('inference-error', detail);
    // Warn once; after that the fallback metric tells how often it happens.
    if (!this.warned) this.logger.warn('policy model failed, routing this request with the fallback policy', { error: detail });
    else this.logger.debug('policy model failed', { error: detail });
    this.warned = true;
    return this.fallback.decide(input);
  }
}
