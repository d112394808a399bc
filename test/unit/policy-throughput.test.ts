import { strict as assert } from 'node:assert';
import { pastSaturation, sustainableRate, sustains } from '../../training/policy/throughput.js';

const run = (p99Ms: number, slaViolationRate = 0, generatorLagShare = 0) => ({ p99Ms, slaViolationRate, generatorLagShare });

describe('sustainable throughput from repeated sweep points', () => {
  it('a rate is sustained when most repeats are within the SLA, so one stalled run does not decide it', () => {
    assert.equal(sustains({ rate: 400, repeats: [run(80, 0.05), run(20), run(25)] }, 40), true);
    assert.equal(sustains({ rate: 400, repeats: [run(80, 0.05), run(20), run(45)] }, 40), false, 'one of three is not a majority');
    assert.equal(sustains({ rate: 400, repeats: [run(20, 0.01), run(20, 0, 0.05), run(20)] }, 40), false, '1% violations or a late generator fail a run');
  });

  it('reports the highest rate sustained with every lower one, or 0 when the lowest is not', () => {
    const points = [
      { rate: 400, repeats: [run(30), run(35), run(70)] },
      { rate: 200, repeats: [run(10), run(12), run(90)] },
      { rate: 300, repeats: [run(20), run(60), run(12)] },
      { rate: 500, repeats: [run(200), run(150), run(300)] },
      { rate: 600, repeats: [run(20), run(25), run(30)] },
    ];
    assert.equal(sustainableRate(points, 40), 400, '600 passing above a failed 500 does not count');
    assert.equal(sustainableRate(points.slice(3), 40), 0);
  });

  it('stops the sweep once the median run is past twice the budget', () => {
    assert.equal(pastSaturation({ rate: 500, repeats: [run(200), run(30), run(150)] }, 40), true);
    assert.equal(pastSaturation({ rate: 500, repeats: [run(200), run(30), run(35)] }, 40), false);
  });

  it('refuses a point without runs', () => {
    assert.throws(() => sustains({ rate: 100, repeats: [] }, 40), /no runs at 100 req\/s/);
  });
});
