/**
 * The OpenAPI 3.1 document the simulator serves at /v1/openapi.json: src/kgpu/api/openapi.json,
 * the one checked-in description of the API, with `servers` pointing at this simulator. The
 * client's types are generated from the same file (`npm run openapi:types` →
 * src/kgpu/api/openapi-types.ts), and test/unit/sim/rest-openapi.test.ts validates the
 * simulator's real responses against it — so the simulator, the document and the client agree.
 */
import document from '../../src/kgpu/api/openapi.json';

export function openApiDocument(serverUrl: string): Record<string, unknown> {
  return { ...(document as Record<string, unknown>), servers: [{ url: serverUrl }] };
}
