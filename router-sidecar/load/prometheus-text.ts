// Reads samples out of a Prometheus text exposition (format 0.0.4; also the sample lines of
// OpenMetrics). Comment, HELP and TYPE lines are skipped, as are malformed lines: a scrape that is
// partly garbled still yields the samples that can be read.

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  /** May be NaN or ±Infinity, as the exposition allows. */
  value: number;
  timestampMs?: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;

function parseValue(token: string): number | undefined {
  if (/^[+-]?inf(inity)?$/i.test(token)) return token.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(token)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(token)) return undefined;
  return Number(token);
}

/** Reads `{name="value", ...}` from `text` at `start` (just after the `{`); undefined if malformed. */
function parseLabels(text: string, start: number): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start;
  const skipSpaces = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  for (;;) {
    skipSpaces();
    if (text[i] === '}') return { labels, end: i + 1 };
    LABEL_NAME.lastIndex = i;
    const name = LABEL_NAME.exec(text)?.[0];
    if (!name) return undefined;
    i += name.length;
    skipSpaces();
    if (text[i] !== '=') return undefined;
    i++;
    skipSpaces();
    if (text[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) return undefined;
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === undefined) return undefined;
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    labels[name] = value;
    skipSpaces();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') return undefined;
  }
}

/** One sample line, or undefined for comments, blank and malformed lines. */
export function parseSampleLine(line: string): PrometheusSample | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const name = NAME.exec(text)?.[0];
  if (!name) return undefined;
  let labels: Record<string, string> = {};
  let rest = text.slice(name.length);
  // Like Prometheus' own parser: blanks may separate the name from `{`, and `}` from the value.
  const afterBlanks = rest.trimStart();
  if (afterBlanks.startsWith('{')) {
    const parsed = parseLabels(afterBlanks, 1);
    if (!parsed) return undefined;
    labels = parsed.labels;
    rest = afterBlanks.slice(parsed.end);
  } else if (afterBlanks === rest) {
    return undefined;
  }
  const tokens = rest.trim().split(/[ \t]+/);
  if (tokens.length < 1 || tokens.length > 2) return undefined;
  const value = parseValue(tokens[0]!);
  if (value === undefined) return undefined;
  const sample: PrometheusSample = { name, labels, value };
  if (tokens[1] !== undefined) {
    const timestamp = Number(tokens[1]);
    if (!/^-?\d+(\.\d+)?$/.test(tokens[1]) || !Number.isFinite(timestamp)) return undefined;
    sample.timestampMs = timestamp;
  }
  return sample;
}

export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    const sample = parseSampleLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

/**
 * The value of the first sample named `name` whose labels include every label in `labels`
 * (other labels are ignored); undefined if there is none. Only lines that start with the name are
 * parsed, so reading one gauge from a large exposition stays cheap.
 */
export function readGauge(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const trimmed = line.trimStart();
    if (!trimmed.startsWith(name)) continue;
    const after = trimmed[name.length];
    if (after !== '{' && after !== ' ' && after !== '\t') continue;
    const sample = parseSampleLine(trimmed);
    if (sample && sample.name === name && wanted.every(([key, value]) => sample.labels[key] === value)) return sample.value;
  }
  return undefined;
}
