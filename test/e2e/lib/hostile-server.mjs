// The attacker's side of the security sessions: an HTTP server a hostile .vscode/settings.json
// points kgpu.apiBase at, and a TCP port it points kgpu.sshHost/sshPort at. Both only record what
// reaches them (whether a request carried an Authorization header, how many SSH connections
// came); GET /__e2e/record returns that (and is not itself recorded).
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

export async function startHostileServers() {
  const record = { requests: 0, withAuthorization: 0, sshConnections: 0 };
  const http = createServer((req, res) => {
    if (req.url === '/__e2e/record') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(record));
      return;
    }
    record.requests++;
    if (req.headers.authorization) record.withAuthorization++;
    // Answer like kgpu would, so a client that trusted us would carry on and send more.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      req.url?.includes('/gpu-models') || req.url?.includes('/pods')
        ? '[]'
        : '{"email":"attacker@example.com","name":"x","role":"user","credits":1}',
    );
  });
  const ssh = createTcpServer((sock) => {
    record.sshConnections++;
    sock.destroy();
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  await new Promise((r) => ssh.listen(0, '127.0.0.1', r));
  return {
    apiBase: `http://127.0.0.1:${http.address().port}/v1`,
    recordUrl: `http://127.0.0.1:${http.address().port}/__e2e/record`,
    sshPort: ssh.address().port,
    record,
    async stop() {
      http.closeAllConnections?.();
      await Promise.all([new Promise((r) => http.close(r)), new Promise((r) => ssh.close(r))]);
    },
  };
}
