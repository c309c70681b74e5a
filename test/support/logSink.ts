import { Writable } from 'node:stream';

/** A log destination for `createApp` that keeps the JSON lines written to it, for tests to read. */
export function logSink(): { sink: Writable; lines: string[]; entries: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { sink, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
