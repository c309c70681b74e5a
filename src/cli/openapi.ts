import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { apiDocument } from '../api/surfaces';
import { parseArgs, run } from './args';

/**
 * npm run openapi [-- --output FILE]: the OpenAPI document this server serves at /api/v1/openapi.json (for
 * GATEHOUSE_BASE_URL), printed or written to a file. `npm run lint:openapi` lints it with Redocly.
 */
run(async () => {
  const args = parseArgs();
  const { document } = apiDocument(loadConfig().baseUrl);
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (typeof args.output !== 'string') {
    process.stdout.write(json);
    return;
  }
  mkdirSync(path.dirname(path.resolve(args.output)), { recursive: true });
  writeFileSync(args.output, json);
});
