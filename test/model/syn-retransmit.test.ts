import { describe, expect, it } from 'vitest';
import { synRetransmitStep } from '../../src/model/syn-retransmit.js';

describe('synRetransmitStep', () => {
  it('flags connects just above a classic or linear step', () => {
    expect(synRetransmitStep(1.003)).toBe(1);
    expect(synRetransmitStep(2.001)).toBe(2);
    expect(synRetransmitStep(3.012)).toBe(3);
    expect(synRetransmitStep(4.0)).toBe(4);
    expect(synRetransmitStep(7.15)).toBe(7);
    expect(synRetransmitStep(15.001)).toBe(15);
    expect(synRetransmitStep(5.15)).toBe(5); // linear: 1, 2, 3, 4, 5, 7, 11, 19, 35 s
    expect(synRetransmitStep(11.2)).toBe(11);
    expect(synRetransmitStep(7.29)).toBe(7); // later timers fire later: the window widens
    expect(synRetransmitStep(0.999)).toBe(1);
  });

  it('leaves fast, in-between and slow-but-steady connects alone', () => {
    expect(synRetransmitStep(0.001)).toBeUndefined();
    expect(synRetransmitStep(0.04)).toBeUndefined();
    expect(synRetransmitStep(0.9)).toBeUndefined();
    expect(synRetransmitStep(1.5)).toBeUndefined();
    expect(synRetransmitStep(5.6)).toBeUndefined();
    expect(synRetransmitStep(6.0)).toBeUndefined();
    expect(synRetransmitStep(1.25)).toBeUndefined();
    expect(synRetransmitStep(1.25, 0.3)).toBe(1);
  });
});
