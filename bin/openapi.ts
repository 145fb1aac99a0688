// Writes docs/openapi.json from the declaration (a test fails when the committed file is stale).
import { writeFileSync } from 'node:fs';
import { taskflow } from '../lib/app';
import { openApiDocument } from '../lib/openapi';

writeFileSync(new URL('../docs/openapi.json', import.meta.url), `${JSON.stringify(openApiDocument(taskflow), null, 2)}\n`);
