/**
 * One description of the API: src/kgpu/api/openapi.json is what the simulator serves and
 * validates its responses against (test/unit/sim/rest-openapi.test.ts); the client's generated
 * types (src/kgpu/api/openapi-types.ts, openapi-typescript) must be regenerated from it, and the
 * hand-written shapes in api-types.ts must agree with them (checked by the compiler, below).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openApiDocument } from '../../../sim/openapi';
import type { components } from '../../../../src/kgpu/api/openapi-types';
import type * as Api from '../../../../src/kgpu/api/api-types';

const root = path.join(__dirname, '..', '..', '..', '..');

test('src/kgpu/api/openapi-types.ts is what openapi-typescript generates from openapi.json now (run `npm run openapi:types` when this fails)', async () => {
  const script = (await import(pathToFileURL(path.join(root, 'scripts', 'openapi-types.mjs')).href)) as {
    generatedTypes(): Promise<string>;
    TYPES: string;
  };
  const expected = await script.generatedTypes();
  assert.ok(expected.includes('export interface components'), 'the generator produced schema types');
  assert.equal(readFileSync(script.TYPES, 'utf8'), expected);
});

test('the simulator serves the checked-in document', () => {
  const served = openApiDocument('http://127.0.0.1:1/v1');
  const file = JSON.parse(readFileSync(path.join(root, 'src/kgpu/api/openapi.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual({ ...served, servers: file.servers }, file);
});

// Compile-time: every schema the document gives is accepted where the hand-written type is used
// (tsc --noEmit fails here when a field changes on one side only).
type Schemas = components['schemas'];
type Accepts<Hand, Doc extends Hand> = Doc;
export type ApiTypesAgree = [
  Accepts<Api.GpuModel, Schemas['GpuModel']>,
  Accepts<Api.Me, Schemas['Me']>,
  Accepts<Api.Balance, Schemas['Balance']>,
  Accepts<Api.Cluster, Schemas['Cluster']>,
  Accepts<Api.Pod, Schemas['Pod']>,
  Accepts<Api.SshAccess, Schemas['SshAccess']>,
  Accepts<Api.RentResponse, Schemas['RentResponse']>,
  Accepts<Api.RotateKeyResponse, Schemas['RotateKeyResponse']>,
  Accepts<Api.ExecResponse, Schemas['ExecResponse']>,
  Accepts<Api.CreatedObject, Schemas['CreatedObject']>,
  Accepts<Api.TransitObject, Schemas['TransitObject']>,
  Accepts<Api.ErrorBody, Schemas['Error']>,
];
