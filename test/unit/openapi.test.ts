import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { openApiDocument } from '../../lib/openapi';

describe('OpenAPI document', () => {
  const document = openApiDocument(taskflow);

  it('is committed in docs/ as generated from the declaration (run `npm run openapi`)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('describes every declared route with its security, body and problem responses', () => {
    expect(document.openapi).toBe('3.1.0');
    for (const route of taskflow.routes) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()] as any;
      expect(operation?.operationId, `${route.method} ${route.path}`).toBe(route.operationId);
      expect(operation.security).toEqual(route.auth === 'jwt' ? [{ bearer: [] }] : []);
      expect(Object.keys(operation.responses)).toContain(String(route.response.status));
      expect(operation.responses['400'].content['application/problem+json']).toBeDefined();
    }
    const createTask = document.paths['/projects/{projectId}/tasks']!.post as any;
    const body = createTask.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['title']);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.status.enum).toEqual(['todo', 'in_progress', 'in_review', 'done']);
  });
});
