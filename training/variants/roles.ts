/** The four variant roles and how each workload derives them. */
import type { Role } from '../../crds/types.js';
import type { FactorySpec } from './specs.js';

export type { Role };
export const ROLES_IN_COST_ORDER: readonly Role[] = ['full', 'pruned', 'quantized', 'distilled'];

export function describeRole(role: Role, spec: FactorySpec): string {
  switch (role) {
    case 'full':
      return `full-precision MLP, hidden ${spec.full.hidden.join('-')}, trained on the labels (Adam, cosine schedule${spec.full.dropout ? `, dropout ${spec.full.dropout}` : ''})`;
    case 'pruned':
      return `the full model with ${Math.round((1 - spec.pruned.keep) * 100)}% of hidden units removed (smallest |in|x|out| weight norms), fine-tuned ${spec.pruned.train.epochs} epochs`;
    case 'quantized':
      return `the full model with int8 weights (per output column, symmetric, range +-${spec.quantized.levels}) and activations quantized at run time (DynamicQuantizeLinear + MatMulInteger)`;
    case 'distilled':
      return `student MLP, hidden ${spec.distilled.hidden.join('-')}, trained on the full model's soft labels (temperature ${spec.distilled.temperature})`;
  }
}
