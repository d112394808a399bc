// Test cascades derived from the shipped sample (manifests/samples/cascade.yaml), so the sample
// is exercised by every cluster test.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from '../../scripts/cluster/paths.js';

export type Json = Record<string, any>;

export function sampleCascade(name: string, namespace: string, mutate: (spec: Json) => void = () => {}): Json {
  const cascade = parse(readFileSync(path.join(ROOT, 'manifests', 'samples', 'cascade.yaml'), 'utf8')) as Json;
  cascade.metadata = { name, namespace };
  mutate(cascade.spec);
  return cascade;
}

export const toYaml = (...objects: Json[]): string => objects.map((o) => `---\n${stringify(o)}`).join('');
