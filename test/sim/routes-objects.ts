/** Transit objects: POST/GET /objects, GET/DELETE /objects/{id} (account or in-pod token: the owner's objects). */
import type { ObjectStore } from './objects';
import type { Route } from './rest';

export function objectRoutes(objects: ObjectStore): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/v1\/objects\/?$/,
      access: 'pod',
      handler: async (c) => ({ body: objects.create(c.principal.account, await c.json()) }),
    },
    { method: 'GET', pattern: /^\/v1\/objects\/?$/, access: 'pod', handler: (c) => ({ body: objects.list(c.principal.account) }) },
    {
      method: 'GET',
      pattern: /^\/v1\/objects\/([^/]+)\/?$/,
      access: 'pod',
      handler: (c) => ({ body: objects.get(c.principal.account, c.params[0]) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/objects\/([^/]+)\/?$/,
      access: 'pod',
      handler: (c) => ({ body: objects.delete(c.principal.account, c.params[0]) }),
    },
  ];
}
