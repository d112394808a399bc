// The shipped Grafana dashboards and Prometheus rules against what the components really export:
// the operator (on the local control plane), a router and the variant servers (as local processes)
// are scraped, every metric a panel or rule queries must be among their metric families, promtool
// must find no naming problems in the scraped text, and the rules must pass `promtool check rules`
// and their own unit tests (dashboards/alerts.test.yaml).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/cluster/paths.js';
import { startLocalCascade, type LocalCascade } from '../../scripts/standalone/local-cascade.js';
import { ensureCluster, serviceAccountKubeconfig } from '../support/cluster.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';

const DASHBOARDS = path.join(ROOT, 'dashboards');
const RULES = path.join(DASHBOARDS, 'alerts.yaml');

/** Metric names a PromQL expression uses (ours all start with inference_cascade_). */
export function queriedMetrics(expr: string): string[] {
  return [...expr.matchAll(/\binference_cascade_[a-z0-9_]+/g)].map((m) => m[0]);
}

/** Families declared by `# TYPE` lines; histogram series add _bucket, _sum and _count. */
export function exportedSeriesNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!match) continue;
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

function dashboardExpressions(): { source: string; expr: string }[] {
  return readdirSync(DASHBOARDS)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => {
      const dashboard = JSON.parse(readFileSync(path.join(DASHBOARDS, file), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } };
      const panels = dashboard.panels.flatMap((panel) => panel.targets.map((t) => ({ source: `${file}: ${panel.title}`, expr: t.expr })));
      const variables = dashboard.templating.list.filter((v) => typeof v.query === 'string').map((v) => ({ source: `${file}: variable`, expr: v.query as string }));
      return [...panels, ...variables];
    });
}

function ruleExpressions(): { source: string; expr: string }[] {
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((group) => group.rules.map((rule) => ({ source: `alerts.yaml: ${rule.alert}`, expr: rule.expr })));
}

function promtool(args: string[], input?: string): { status: number; output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: DASHBOARDS });
  if (result.error) throw new Error(`promtool is needed for this test (Debian package prometheus; .ci/run installs it): ${result.error.message}`);
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

describe('dashboards and alerting rules against the real /metrics', function () {
  this.timeout(120_000);
  let operator: OperatorProcess;
  let cascade: LocalCascade;
  const scraped: Record<string, string> = {};

  before(async () => {
    await ensureCluster();
    // Starting the local cascade below loads five ONNX processes on two cores; the default 4 s test
    // lease can lapse meanwhile, and a replica that loses its lease exits by design. This test is
    // about /metrics, not leader election, so it runs with a lease that outlasts the start-up.
    operator = await startOperator({ kubeconfig: serviceAccountKubeconfig(), identity: 'dashboards-test', leaseDurationSeconds: 30 });
    cascade = await startLocalCascade({ cascadeFile: path.join(ROOT, 'manifests', 'samples', 'cascade.yaml') });
    const body = JSON.stringify({ features: [Array.from({ length: 32 }, (_, i) => Math.sin(i))] });
    for (let i = 0; i < 5; i++) await fetch(`${cascade.router.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    scraped.operator = await operator.metrics();
    scraped.router = await (await fetch(`${cascade.router.url}/metrics`)).text();
    scraped.variant = await (await fetch(`${cascade.variants.full.url}/metrics`)).text();
  });

  after(async () => {
    await cascade?.stop();
    await operator?.stop();
  });

  it('queries only metrics the operator, the router and the variant servers export', () => {
    const exported = new Set(Object.values(scraped).flatMap((text) => [...exportedSeriesNames(text)]));
    const expressions = [...dashboardExpressions(), ...ruleExpressions()];
    assert.ok(expressions.length >= 25, `found ${expressions.length} expressions`);
    const missing = expressions.flatMap(({ source, expr }) => queriedMetrics(expr).filter((name) => !exported.has(name)).map((name) => `${source}: ${name}`));
    assert.deepEqual(missing, []);
    // Every exported family of ours appears on a dashboard (process/runtime defaults aside).
    const queried = new Set(expressions.flatMap(({ expr }) => queriedMetrics(expr)).map((name) => name.replace(/_(bucket|sum|count)$/, '')));
    const ours = Object.values(scraped).flatMap((text) => [...text.matchAll(/^# TYPE (inference_cascade_(?:router|variant|operator)_(?!process_|nodejs_)\S+)/gm)].map((m) => m[1]!));
    const unshown = [...new Set(ours)].filter((name) => !queried.has(name));
    assert.deepEqual(unshown, [], 'exported but on no dashboard');
  });

  it('exports metric names promtool finds no problems with', () => {
    for (const [component, text] of Object.entries(scraped)) {
      const { status, output } = promtool(['check', 'metrics'], text);
      assert.equal(output.trim(), '', component);
      assert.equal(status, 0, component);
    }
  });

  it('passes promtool check rules and the rules\' unit tests', () => {
    const check = promtool(['check', 'rules', RULES]);
    assert.equal(check.status, 0, check.output);
    const rules = (readFileSync(RULES, 'utf8').match(/^\s*- alert: /gm) ?? []).length;
    assert.match(check.output, new RegExp(`SUCCESS: ${rules} rules found`));
    const unit = promtool(['test', 'rules', 'alerts.test.yaml']);
    assert.equal(unit.status, 0, unit.output);
  });

  it('has valid JSON dashboards with unique panel ids and a datasource variable', () => {
    for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
      const dashboard = JSON.parse(readFileSync(path.join(DASHBOARDS, file), 'utf8')) as { uid: string; panels: { id: number }[]; templating: { list: { name: string }[] } };
      assert.ok(dashboard.uid, `${file}: uid`);
      const ids = dashboard.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: duplicate panel ids`);
      assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource'), `${file}: datasource variable`);
    }
    assert.ok(execFileSync('promtool', ['--version'], { encoding: 'utf8' }).length > 0);
  });
});

