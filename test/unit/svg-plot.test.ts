import { strict as assert } from 'node:assert';
import { renderChart } from '../../common/svg-plot.js';

describe('SVG charts', () => {
  it('render a series of 300,000 points (axes found without spreading the points into Math.max)', () => {
    const points = Array.from({ length: 300_000 }, (_, i) => [i, i % 13] as [number, number]);
    const svg = renderChart({ title: 'many', xLabel: 'x', panels: [{ title: 'p', yLabel: 'y', series: [{ name: 's', color: '#000', points, style: 'dots' }] }] });
    assert.equal(svg.match(/<circle /g)?.length, 300_000);
    assert.match(svg, />299999</, 'the x axis ends at the last point');
  });
});
