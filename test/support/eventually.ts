/**
 * Asks until `done` holds or 5 s have passed, and returns the last answer: for what another server reflects
 * on its own, following the change log (about every 20 ms). The caller asserts on the answer.
 */
export async function eventually<T>(ask: () => Promise<T>, done: (answer: T) => boolean, withinMs = 5000): Promise<T> {
  const until = Date.now() + withinMs;
  for (;;) {
    const answer = await ask();
    if (done(answer) || Date.now() > until) return answer;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
