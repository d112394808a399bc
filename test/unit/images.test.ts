// No Docker engine (and no hadolint in Debian) here: the image Dockerfiles are parsed and held to
// the rules the images must follow: multi-stage, a pinned small non-root runtime, production
// dependencies only, a health check, exec-form entry point on a compiled file that exists in the
// build, the component's port exposed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/cluster/paths.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (!pending) start = i + 1;
    pending += `${line.endsWith('\\') ? line.slice(0, -1) : line} `;
    if (!line.endsWith('\\')) {
      const [keyword, ...rest] = pending.trim().split(/\s+/);
      instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' '), line: start });
      pending = '';
    }
  });
  return instructions;
}

const COMPONENTS = {
  operator: { port: 8081, entry: 'dist/operator/main.js', source: 'operator/main.ts' },
  'router-sidecar': { port: 8080, entry: 'dist/router-sidecar/main.js', source: 'router-sidecar/main.ts' },
  'variant-server': { port: 8080, entry: 'dist/variant-server/main.js', source: 'variant-server/main.ts' },
} as const;

describe('image Dockerfiles', () => {
  for (const [component, expected] of Object.entries(COMPONENTS)) {
    describe(component, () => {
      const file = path.join(ROOT, 'images', component, 'Dockerfile');
      const instructions = parseDockerfile(readFileSync(file, 'utf8'));
      const froms = instructions.filter((i) => i.keyword === 'FROM');
      const finalStage = instructions.slice(instructions.lastIndexOf(froms.at(-1)!));

      it('is multi-stage with pinned bases, the runtime small and without a shell', () => {
        assert.ok(froms.length >= 2, 'at least a build and a runtime stage');
        for (const from of froms) {
          const image = from.args.split(/\s+/)[0]!;
          assert.ok(/:[^:]+$/.test(image) && !image.endsWith(':latest'), `line ${from.line}: ${image} is not pinned to a tag`);
        }
        assert.match(froms.at(-1)!.args, /^gcr\.io\/distroless\/nodejs20-debian12:nonroot$/);
      });

      it('runs as a non-root numeric user', () => {
        const user = finalStage.filter((i) => i.keyword === 'USER').at(-1);
        assert.ok(user, 'USER in the final stage');
        const [uid] = user.args.split(':');
        assert.ok(/^\d+$/.test(uid!) && Number(uid) !== 0, `USER ${user.args}`);
      });

      it('installs only production dependencies for the runtime, from the lock file', () => {
        const installs = instructions.filter((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args));
        assert.ok(installs.every((i) => /npm ci\b/.test(i.args)), 'npm ci, never npm install');
        const copied = finalStage.filter((i) => i.keyword === 'COPY' && i.args.includes('node_modules'));
        assert.equal(copied.length, 1);
        const stage = /--from=(\S+)/.exec(copied[0]!.args)![1]!;
        const source = instructions.slice(instructions.findIndex((i) => i.keyword === 'FROM' && i.args.endsWith(` AS ${stage}`)));
        const install = source.find((i) => i.keyword === 'RUN' && /npm ci/.test(i.args));
        assert.match(install!.args, /--omit=dev/, `the ${stage} stage omits dev dependencies`);
        assert.ok(instructions.some((i) => i.keyword === 'COPY' && /package-lock\.json/.test(i.args) && /\.npmrc/.test(i.args)), 'lock file and .npmrc (skips the CUDA download) copied');
      });

      it('has a health check, exposes its port and starts its compiled entry point in exec form', () => {
        const health = finalStage.find((i) => i.keyword === 'HEALTHCHECK');
        assert.ok(health && health.args.includes(`127.0.0.1:${expected.port}`), 'HEALTHCHECK on the component port');
        assert.ok(finalStage.some((i) => i.keyword === 'EXPOSE' && i.args === String(expected.port)));
        const entry = finalStage.find((i) => i.keyword === 'ENTRYPOINT')!;
        assert.deepEqual(JSON.parse(entry.args), ['/nodejs/bin/node', expected.entry]);
        assert.ok(existsSync(path.join(ROOT, expected.source)), `${expected.source} compiles to ${expected.entry}`);
        const build = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
        assert.ok(build.include.includes(expected.source.split('/')[0]!), 'tsconfig.build.json compiles it');
      });

      it('never fetches remote files with ADD', () => {
        assert.ok(!instructions.some((i) => i.keyword === 'ADD'), 'COPY only');
      });
    });
  }

  it('keeps models, tests and local state out of the build context', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.bin', '.cache', '.cluster', 'models', 'test', '.git']) assert.ok(ignored.includes(entry), entry);
  });

  it('parses continuation lines and comments', () => {
    const parsed = parseDockerfile('# c\nFROM a:1 AS b\nRUN x \\\n  && y\n\nUSER 1\n');
    assert.deepEqual(parsed.map((i) => [i.keyword, i.args, i.line]), [['FROM', 'a:1 AS b', 2], ['RUN', 'x && y', 3], ['USER', '1', 6]]);
  });
});
