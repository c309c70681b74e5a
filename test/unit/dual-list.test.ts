import { describe, expect, it } from 'vitest';
import { buildView, readState, DUAL_LIST_PAGE_SIZE, type DualListSource } from '../../src/http/dualList';
import { COUNT_CAP } from '../../src/users/repo';

/** A source with `n` items on the left, counting the way the SQL sources do: exactly up to COUNT_CAP, then a bound. */
function source(n: number): DualListSource {
  return {
    async page(side, _q, _pending, limit, offset) {
      const size = side === 'available' ? n : 0;
      const items = Array.from({ length: Math.max(0, Math.min(limit, size - offset)) }, (_, i) => ({ id: offset + i + 1, label: `item ${offset + i + 1}` }));
      return size > COUNT_CAP ? { items, total: COUNT_CAP + 1, exact: false } : { items, total: size, exact: true };
    },
    async ids() {
      return [];
    },
  };
}

describe('dual list counts', () => {
  it('are exact when small: the pages are known and a page past the end shows the last', async () => {
    const view = await buildView({ ...readState('x'), leftPage: 99 }, source(60));
    expect(view.left).toMatchObject({ exact: true, total: 60, pages: 3, page: 3 });
  });

  it('are bounded when large: "more than", and paging goes on while pages are full', async () => {
    const view = await buildView({ ...readState('x'), leftPage: 500 }, source(20_000));
    expect(view.left.exact).toBe(false);
    expect(view.left.page).toBe(500);
    expect(view.left.items).toHaveLength(DUAL_LIST_PAGE_SIZE);
    expect(view.left.pages).toBe(501);
    expect(view.countCap).toBe(COUNT_CAP);
  });
});
