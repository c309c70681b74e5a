/**
 * A webhook receiver for tests: a Node http server on 127.0.0.1 that records every request (headers and raw
 * body) and answers as told: 204, an error status, holding the request open, or not listening at all.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: Record<string, string>;
  body: string;
  at: number;
}

export type ReceiverMode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'hang' };

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  mode: ReceiverMode;
  /** Resolves at the next request received. */
  nextRequest(): Promise<Received>;
  /** Stops listening (connections are refused) / listens again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
  /** The parsed bodies' types, in the order received. */
  types(): string[];
}

export async function startReceiver(path = '/hooks'): Promise<Receiver> {
  const hung: http.ServerResponse[] = [];
  let waiters: Array<(r: Received) => void> = [];
  const r: Receiver = {
    url: '',
    port: 0,
    received: [],
    mode: { kind: 'ok' },
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    down: async () => {
      for (const res of hung.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    up: () => new Promise<void>((resolve) => server.listen(r.port, '127.0.0.1', resolve)),
    close: async () => {
      for (const res of hung.splice(0)) res.destroy();
      server.closeAllConnections();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    types: () => r.received.map((x) => JSON.parse(x.body).type as string),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got: Received = { headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      r.received.push(got);
      const w = waiters;
      waiters = [];
      for (const resolve of w) resolve(got);
      if (r.mode.kind === 'hang') return void hung.push(res);
      res.writeHead(r.mode.kind === 'status' ? r.mode.status : 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}${path}`;
  return r;
}
