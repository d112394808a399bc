// Minimal SVG charts for reports: stacked panels sharing one x axis, each with line or dot
// series, horizontal reference lines, and vertical markers (e.g. drift onset, agent actions).

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  style?: 'line' | 'dots';
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  hlines?: { y: number; label: string; color: string }[];
  yMax?: number;
}

export interface Marker {
  x: number;
  label: string;
  color: string;
}

export interface Chart {
  title: string;
  xLabel: string;
  panels: Panel[];
  markers?: Marker[];
  width?: number;
  panelHeight?: number;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(1) : n.toFixed(2));

// Loops, not Math.max(...values): spreading a few hundred thousand points overflows the stack.
const largest = (values: readonly number[]): number => values.reduce((most, v) => (v > most ? v : most), -Infinity);
const smallest = (values: readonly number[]): number => values.reduce((least, v) => (v < least ? v : least), Infinity);

export function renderChart(chart: Chart): string {
  const width = chart.width ?? 960;
  const panelHeight = chart.panelHeight ?? 220;
  const left = 70;
  const right = 20;
  const top = 40;
  const gap = 50;
  const height = top + chart.panels.length * (panelHeight + gap) + 20;
  const xs = [...chart.panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x))), ...(chart.markers ?? []).map((m) => m.x)];
  const xMin = smallest(xs);
  const xMax = Math.max(largest(xs), xMin + 1);
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (width - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(chart.title)}</text>`,
  ];
  chart.panels.forEach((panel, index) => {
    const y0 = top + index * (panelHeight + gap);
    const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
    const yMax = panel.yMax ?? Math.max(largest(ys), largest((panel.hlines ?? []).map((h) => h.y)), 1e-9) * 1.1;
    const sy = (y: number) => y0 + panelHeight - (Math.min(y, yMax) / yMax) * panelHeight;
    out.push(`<text x="${left}" y="${y0 - 8}" font-weight="bold">${escape(panel.title)}</text>`);
    out.push(`<rect x="${left}" y="${y0}" width="${width - left - right}" height="${panelHeight}" fill="none" stroke="#999"/>`);
    for (let t = 0; t <= 4; t++) {
      const y = (yMax * t) / 4;
      out.push(`<line x1="${left - 4}" x2="${left}" y1="${sy(y)}" y2="${sy(y)}" stroke="#999"/>`);
      out.push(`<text x="${left - 6}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
    }
    out.push(`<text transform="translate(14 ${y0 + panelHeight / 2}) rotate(-90)" text-anchor="middle">${escape(panel.yLabel)}</text>`);
    for (const marker of chart.markers ?? []) {
      out.push(`<line x1="${sx(marker.x)}" x2="${sx(marker.x)}" y1="${y0}" y2="${y0 + panelHeight}" stroke="${marker.color}" stroke-dasharray="4 3"/>`);
    }
    for (const line of panel.hlines ?? []) {
      out.push(`<line x1="${left}" x2="${width - right}" y1="${sy(line.y)}" y2="${sy(line.y)}" stroke="${line.color}" stroke-dasharray="6 3"/>`);
      out.push(`<text x="${width - right - 4}" y="${sy(line.y) - 4}" text-anchor="end" fill="${line.color}">${escape(line.label)}</text>`);
    }
    panel.series.forEach((series, s) => {
      const points = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      if (series.style === 'dots') {
        for (const [x, y] of points) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="1.6" fill="${series.color}" fill-opacity="0.6"/>`);
      } else if (points.length > 0) {
        const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
        out.push(`<path d="${d}" fill="none" stroke="${series.color}" stroke-width="1.5"/>`);
      }
      out.push(`<rect x="${left + 10 + s * 150}" y="${y0 + 8}" width="10" height="10" fill="${series.color}"/>`);
      out.push(`<text x="${left + 24 + s * 150}" y="${y0 + 17}">${escape(series.name)}</text>`);
    });
    out.push(`<text x="${width / 2}" y="${y0 + panelHeight + 30}" text-anchor="middle">${escape(chart.xLabel)}</text>`);
    for (let t = 0; t <= 5; t++) {
      const x = xMin + ((xMax - xMin) * t) / 5;
      out.push(`<text x="${sx(x)}" y="${y0 + panelHeight + 14}" text-anchor="middle">${fmt(x)}</text>`);
    }
  });
  const markerLegend = (chart.markers ?? []).map((m, i) => `<text x="${left + i * 190}" y="${height - 6}" fill="${m.color}">${escape(`${m.label} @ ${fmt(m.x)}`)}</text>`);
  out.push(...markerLegend.slice(0, 5), '</svg>');
  return out.join('\n');
}
