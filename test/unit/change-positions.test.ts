import { describe, expect, it } from 'vitest';
import { PositionTracker, type PositionTrackerOptions } from '../../src/changes/positions';

const options: PositionTrackerOptions = { holeTimeoutMs: 60_000, recentMs: 5_000, maxHoles: 100 };

describe('following change-log positions that commit out of order or never', () => {
  it('applies entries in order and has nothing to wait for', () => {
    const t = new PositionTracker(0, options);
    expect(t.observe([1, 2, 3], 0)).toEqual([1, 2, 3]);
    expect(t.high).toBe(3);
    expect(t.holeCount).toBe(0);
    expect(t.covers(3)).toBe(true);
    expect(t.settled).toBe(3);
    // Read again (an overlapping read): nothing new.
    expect(t.observe([2, 3], 1)).toEqual([]);
  });

  it('a lower position that commits after a higher one is still applied, once', () => {
    const t = new PositionTracker(10, options);
    expect(t.observe([12], 0)).toEqual([12]);
    expect(t.covers(12)).toBe(true);
    expect(t.covers(11)).toBe(false);
    expect(t.settled).toBe(10);
    expect(t.holesToProbe(1, false)).toEqual([11]);
    expect(t.observe([11], 2)).toEqual([11]);
    expect(t.observe([11, 12], 3)).toEqual([]);
    expect(t.covers(11)).toBe(true);
    expect(t.settled).toBe(12);
  });

  it('Galera steps (auto_increment_increment = 3) leave holes that time out; a late commit before the timeout still counts', () => {
    const t = new PositionTracker(0, options);
    expect(t.observe([1, 4, 7], 0)).toEqual([1, 4, 7]);
    expect(t.holesToProbe(0, true)).toEqual([2, 3, 5, 6]);
    expect(t.observe([5], 30_000)).toEqual([5]);
    expect(t.expire(59_999)).toBe(0);
    expect(t.expire(60_000)).toBe(3);
    expect(t.holeCount).toBe(0);
    expect(t.abandoned).toBe(3);
    expect(t.covers(2)).toBe(true);
    expect(t.settled).toBe(7);
    // A position given up and then seen after all is not applied twice, but a new one is.
    expect(t.observe([10], 61_000)).toEqual([10]);
  });

  it('probes recent holes on every poll and old ones only when asked for all', () => {
    const t = new PositionTracker(0, options);
    t.observe([2], 0);
    t.observe([5], 4_000);
    expect(t.holesToProbe(6_000, false)).toEqual([3, 4]);
    expect(t.holesToProbe(6_000, true)).toEqual([1, 3, 4]);
  });

  it('starting from a head, the positions missing just below it are holes (they may still commit)', () => {
    const t = PositionTracker.startingAt(10, 5, [6, 7, 9, 10], 0, options);
    expect(t.high).toBe(10);
    expect(t.holesToProbe(0, true)).toEqual([8]);
    expect(t.covers(5)).toBe(true);
    expect(t.covers(8)).toBe(false);
    expect(t.observe([8, 11], 1)).toEqual([8, 11]);
  });

  it('a young log (head below the window) has no holes below position 1', () => {
    const t = PositionTracker.startingAt(3, 3 - 2000, [1, 3], 0, options);
    expect(t.holesToProbe(0, true)).toEqual([2]);
    expect(t.settled).toBe(1);
    expect(PositionTracker.startingAt(0, -2000, [], 0, options).settled).toBe(0);
  });

  it('remembers at most maxHoles holes, giving up the oldest first', () => {
    const t = new PositionTracker(0, options);
    t.observe([1000], 0);
    expect(t.holeCount).toBe(100);
    expect(Math.min(...t.holesToProbe(0, true))).toBe(900);
    t.observe([1010], 1);
    expect(t.holeCount).toBe(100);
    expect(Math.min(...t.holesToProbe(1, true))).toBe(909);
  });
});
