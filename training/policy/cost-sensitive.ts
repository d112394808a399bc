// The simpler contender: cost-sensitive classification. A trace records every variant's answer to
// every request, so each logged state has a full cost vector
//     c(role) = costWeight * cost(role) - mu * correct(role)
// and a network is trained to minimise the expected cost under its softmax, sum_k p_k c_k (a
// contextual bandit with full feedback). States (with their load features) are logged from
// simulated episodes under a random behaviour policy; mu, the price of one right answer, is found
// by bisection so that the greedy policy meets the accuracy constraint on validation episodes.
import { ROLES } from '../../crds/types.js';
import { FEATURE_COUNT, policyFeatures } from '../../router-sidecar/policy/features.js';
import { seededRandom } from '../../common/random.js';
import { runEpisode, sampleEpisode, type TrainingRun } from './environment.js';
import { Adam, minibatches, Mlp, softmaxRows } from './nn.js';
import { validate, type ValidationResult } from './ppo.js';

interface LoggedState {
  features: Float64Array;
  row: number;
}

export interface CostSensitiveResult {
  policy: Mlp;
  correctnessWeight: number;
  search: ({ correctnessWeight: number } & ValidationResult)[];
}

export interface CostSensitiveOptions extends TrainingRun {
  log?: (message: string) => void;
}

function logStates(options: CostSensitiveOptions): LoggedState[] {
  const { env, config } = options;
  const random = seededRandom(options.seed);
  const states: LoggedState[] = [];
  const buffer = new Float32Array(FEATURE_COUNT);
  const episodes = 8;
  for (let e = 0; e < episodes; e++) {
    const episode = sampleEpisode(options.trainRows, config.ppo.requestsPerEpisode, config.ppo.rateRange, config.ppo.burstyShare, config.sla.trainLatencyBudgetsMs, config.sla.minAccuracy, random);
    runEpisode(env, episode, (input, row) => {
      states.push({ features: Float64Array.from(policyFeatures(input, buffer)), row });
      return ROLES[random.int(ROLES.length)]!;
    });
  }
  return states;
}

function fit(options: CostSensitiveOptions, states: readonly LoggedState[], correctnessWeight: number): Mlp {
  const { env, config } = options;
  const settings = config.costSensitive;
  const random = seededRandom(options.seed + 1);
  const network = new Mlp({ sizes: [FEATURE_COUNT, ...settings.hidden, ROLES.length], hidden: settings.activation }, random);
  if (options.inputMask) network.maskInputs(options.inputMask);
  const optimizer = new Adam(network.parameters(), { lr: settings.lr, maxGradNorm: 5 });
  const costs = states.map(({ row }) =>
    ROLES.map((role) => config.objective.costWeight * env.costs[role] - correctnessWeight * (env.trace.answers[role].predictions[row] === env.trace.labels[row] ? 1 : 0)),
  );
  for (let epoch = 0; epoch < settings.epochs; epoch++) {
    for (const { indices: batch, x } of minibatches(states.length, FEATURE_COUNT, settings.batch, random, (i) => states[i]!.features)) {
      const n = batch.length;
      const forward = network.forward(x, n);
      const p = softmaxRows(forward.output, n, ROLES.length);
      const grad = new Float64Array(n * ROLES.length);
      batch.forEach((i, r) => {
        const c = costs[i]!;
        let expected = 0;
        for (let k = 0; k < ROLES.length; k++) expected += p[r * ROLES.length + k]! * c[k]!;
        // d/d logit_k of sum_j p_j c_j = p_k (c_k - E[c]).
        for (let k = 0; k < ROLES.length; k++) grad[r * ROLES.length + k] = (p[r * ROLES.length + k]! * (c[k]! - expected)) / n;
      });
      optimizer.step(network.backward(forward, grad));
    }
  }
  return network;
}

export function trainCostSensitive(options: CostSensitiveOptions): CostSensitiveResult {
  const states = logStates(options);
  const search: CostSensitiveResult['search'] = [];
  // The cost of full is 1 per request; a right answer worth 0..50 of those spans "always cheapest" to "always most accurate".
  let low = 0;
  let high = 50;
  let best: { policy: Mlp; weight: number } | undefined;
  for (let step = 0; step < options.config.costSensitive.bisectionSteps; step++) {
    const weight = (low + high) / 2;
    const policy = fit(options, states, weight);
    const result = validate(options.env, policy, options.validation, options.targets);
    search.push({ correctnessWeight: weight, ...result });
    options.log?.(`cost-sensitive: mu ${weight.toFixed(3)} -> accuracy ${(result.accuracy * 100).toFixed(2)}%, SLA violations ${(result.slaViolationRate * 100).toFixed(2)}%, cost ${result.meanCost.toFixed(3)}`);
    if (result.feasible) {
      best = { policy, weight };
      high = weight;
    } else low = weight;
  }
  if (!best) {
    const policy = fit(options, states, high);
    best = { policy, weight: high };
  }
  return { policy: best.policy, correctnessWeight: best.weight, search };
}
