#!/usr/bin/env node
/**
 * A sample Gatehouse webhook receiver that verifies signatures (Standard Webhooks), with Node only.
 *
 *   WEBHOOK_SECRET=whsec_… PORT=4000 node examples/webhook-verifier.mjs
 *
 * Each verified event is printed as one JSON line on standard output and answered 204; a request whose
 * signature does not verify, or whose timestamp is more than 5 minutes away, is answered 401 and not printed.
 * `verify()` is exported for use in your own receiver.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const TOLERANCE_SECONDS = 5 * 60;

/**
 * Checks a delivery: `body` is the raw request body (a Buffer or string, before any JSON parsing), `headers`
 * the request's headers (lower-case names). Returns the parsed event, or throws.
 */
export function verify(secret, headers, body, now = Date.now()) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new Error('missing webhook-id, webhook-timestamp or webhook-signature');
  if (!/^\d+$/.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) throw new Error('timestamp too old or in the future');
  // The key is the base64 text after "whsec_"; the signed content is "<id>.<timestamp>.<body>".
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  // The header may carry several space-separated signatures ("v1,<base64>"): one match is enough.
  const match = signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || !signature) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!match) throw new Error('no matching signature');
  return JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : body);
}

function serve(secret, port) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = verify(secret, req.headers, Buffer.concat(chunks));
        process.stdout.write(`${JSON.stringify({ id: req.headers['webhook-id'], ...event })}\n`);
        res.writeHead(204).end();
      } catch (e) {
        process.stderr.write(`rejected: ${e.message}\n`);
        res.writeHead(401, { 'content-type': 'text/plain' }).end('invalid signature');
      }
    });
  });
  server.listen(port, '127.0.0.1', () => process.stderr.write(`listening on http://127.0.0.1:${server.address().port}/\n`));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) {
    process.stderr.write('Set WEBHOOK_SECRET to the endpoint’s signing secret (whsec_…).\n');
    process.exit(2);
  }
  serve(secret, Number(process.env.PORT ?? 4000));
}
