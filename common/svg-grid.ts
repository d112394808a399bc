// SVG heat maps (a value per cell of a grid, e.g. risk over TTL x prefix length) and grouped bar
// charts (e.g. latency percentiles per configuration) for reports.

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface HeatMap {
  title: string;
  xLabel: string;
  yLabel: string;
  columns: string[];
  rows: string[];
  /** values[row][column]; NaN cells are left grey. */
  values: number[][];
  format?: (value: number) => string;
}

/** White (low) to red (high) on the map's own range. */
function heat(value: number, min: number, max: number): string {
  if (!Number.isFinite(value)) return '#ddd';
  const t = max > min ? (value - min) / (max - min) : 0;
  const g = Math.round(245 - 190 * t);
  return `rgb(245,${g},${Math.round(240 - 200 * t)})`;
}

export function renderHeatMaps(title: string, maps: HeatMap[]): string {
  const cell = { w: 80, h: 34 };
  const left = 110;
  const mapWidth = (m: HeatMap) => left + m.columns.length * cell.w + 30;
  const mapHeight = (m: HeatMap) => 70 + m.rows.length * cell.h + 40;
  const width = Math.max(...maps.map(mapWidth)) * Math.min(2, maps.length);
  const perRow = Math.min(2, maps.length);
  const rowsOfMaps = Math.ceil(maps.length / perRow);
  const height = 40 + rowsOfMaps * Math.max(...maps.map(mapHeight));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  maps.forEach((map, index) => {
    const x0 = (index % perRow) * (width / perRow);
    const y0 = 40 + Math.floor(index / perRow) * Math.max(...maps.map(mapHeight));
    const finite = map.values.flat().filter(Number.isFinite);
    const min = Math.min(...finite, 0);
    const max = Math.max(...finite, 1e-12);
    const format = map.format ?? ((v: number) => v.toFixed(3));
    out.push(`<text x="${x0 + left}" y="${y0 + 16}" font-weight="bold">${escape(map.title)}</text>`);
    map.rows.forEach((row, r) => {
      const y = y0 + 30 + r * cell.h;
      out.push(`<text x="${x0 + left - 8}" y="${y + cell.h / 2 + 4}" text-anchor="end">${escape(row)}</text>`);
      map.columns.forEach((_, c) => {
        const value = map.values[r]?.[c] ?? NaN;
        const x = x0 + left + c * cell.w;
        out.push(`<rect x="${x}" y="${y}" width="${cell.w - 2}" height="${cell.h - 2}" fill="${heat(value, min, max)}"/>`);
        out.push(`<text x="${x + cell.w / 2}" y="${y + cell.h / 2 + 4}" text-anchor="middle">${Number.isFinite(value) ? escape(format(value)) : '-'}</text>`);
      });
    });
    const yAxis = y0 + 30 + map.rows.length * cell.h;
    map.columns.forEach((column, c) => out.push(`<text x="${x0 + left + c * cell.w + cell.w / 2}" y="${yAxis + 14}" text-anchor="middle">${escape(column)}</text>`));
    out.push(`<text x="${x0 + left + (map.columns.length * cell.w) / 2}" y="${yAxis + 32}" text-anchor="middle">${escape(map.xLabel)}</text>`);
    out.push(`<text transform="translate(${x0 + 14} ${y0 + 30 + (map.rows.length * cell.h) / 2}) rotate(-90)" text-anchor="middle">${escape(map.yLabel)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

export interface BarGroup {
  label: string;
  /** One value per series, in the chart's series order. */
  values: number[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  series: { name: string; color: string }[];
  groups: BarGroup[];
}

export function renderBars(chart: BarChart): string {
  const groupWidth = Math.max(90, chart.series.length * 22 + 30);
  const left = 70;
  const width = left + chart.groups.length * groupWidth + 40;
  const plotHeight = 260;
  const top = 60;
  const height = top + plotHeight + 70;
  const finite = chart.groups.flatMap((g) => g.values).filter(Number.isFinite);
  const yMax = Math.max(...finite, 1e-9) * 1.1;
  const sy = (y: number) => top + plotHeight - (Math.min(y, yMax) / yMax) * plotHeight;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(chart.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${width - left - 40}" height="${plotHeight}" fill="none" stroke="#999"/>`,
    `<text transform="translate(16 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const y = (yMax * t) / 4;
    out.push(`<text x="${left - 6}" y="${sy(y) + 4}" text-anchor="end">${y >= 10 ? y.toFixed(0) : y.toFixed(2)}</text>`);
    out.push(`<line x1="${left}" x2="${width - 40}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
  }
  chart.series.forEach((s, i) => {
    out.push(`<rect x="${left + i * 110}" y="34" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${left + i * 110 + 14}" y="43">${escape(s.name)}</text>`);
  });
  chart.groups.forEach((group, g) => {
    const x0 = left + g * groupWidth + 15;
    group.values.forEach((value, i) => {
      if (!Number.isFinite(value)) return;
      out.push(`<rect x="${x0 + i * 22}" y="${sy(value)}" width="18" height="${top + plotHeight - sy(value)}" fill="${chart.series[i]!.color}"><title>${escape(`${group.label} ${chart.series[i]!.name}: ${value}`)}</title></rect>`);
    });
    out.push(`<text x="${x0 + (group.values.length * 22) / 2}" y="${top + plotHeight + 16}" text-anchor="middle">${escape(group.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
