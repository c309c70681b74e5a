/**
 * The users list's search counts, remembered per server while the accounts stay the same.
 *
 * Counting a word's matches reads every index entry it finds (up to 10,001 per column), most of a search
 * page's database time; paging through a search, sorting it or coming back to it counts the same word
 * again. So each server remembers the counts of the words searched lately, for as long as its decision
 * state's accounts do not move (DecisionState.accountsVersion): every write to a user records its change
 * in the change log, and the state applies it — at once on the server that made it (a request waits for
 * this server's own writes), within the follower's poll interval on the others — and the remembered counts
 * are dropped with it. A count taken while a change was being applied is not kept.
 */
import type { DecisionState } from '../access/state';

/** Words remembered per server at most (the oldest go first). */
const KEPT = 1000;

export class SearchCounts {
  private at = -1;
  private readonly counts = new Map<string, number[]>();

  constructor(private readonly state: Pick<DecisionState, 'accountsVersion'>) {}

  /** The counts of `word`, remembered or counted now by `count`. */
  async of(word: string, count: () => Promise<number[]>): Promise<number[]> {
    const version = this.state.accountsVersion;
    if (version !== this.at) {
      this.counts.clear();
      this.at = version;
    }
    const known = this.counts.get(word);
    if (known) return known;
    const counted = await count();
    if (this.state.accountsVersion === version && this.at === version) {
      if (this.counts.size >= KEPT) this.counts.delete(this.counts.keys().next().value!);
      this.counts.set(word, counted);
    }
    return counted;
  }
}

const perState = new WeakMap<DecisionState, SearchCounts>();

/** The remembered counts of this decision state (a state loaded anew starts with none). */
export function searchCountsOf(state: DecisionState): SearchCounts {
  let counts = perState.get(state);
  if (!counts) perState.set(state, (counts = new SearchCounts(state)));
  return counts;
}
