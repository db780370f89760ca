import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { noProxyMatches, resolveProxy } from '../../../src/kgpu/net/proxy-env';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { startSimulator, type Simulator } from '../../sim/index';
import { startPodFixture, type PodFixture } from '../kgpu/ssh/pod-fixture';
import { startConnectProxy, type ConnectProxy } from './connect-proxy';

let sim: Simulator;
let pod: PodFixture;
let proxy: ConnectProxy;
before(async () => {
  [sim, pod, proxy] = await Promise.all([startSimulator({ clockSpeed: 0 }), startPodFixture(), startConnectProxy()]);
});
after(async () => {
  await Promise.all([sim?.stop(), pod?.stop(), proxy?.close()]);
});

const apiHostPort = (): string => new URL(sim.apiBase).host;

async function me(options: ConstructorParameters<typeof KgpuClient>[0]['proxy']): Promise<string> {
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, proxy: options, retry: { maxAttempts: 1 } });
  try {
    return (await client.getMe()).user_id ?? 'me';
  } finally {
    await client.close();
  }
}

test('REST goes through http.proxy (a real CONNECT tunnel) when it is set', async () => {
  const before = proxy.connects.length;
  assert.ok(await me({ proxy: proxy.url, env: {} }));
  assert.deepEqual(proxy.connects.slice(before), [apiHostPort()]);
});

test('REST honours HTTP(S)_PROXY from the environment, and NO_PROXY exempts a host', async () => {
  const before = proxy.connects.length;
  assert.ok(await me({ env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } }));
  assert.deepEqual(proxy.connects.slice(before), [apiHostPort()]);
  const mid = proxy.connects.length;
  assert.ok(await me({ env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } }));
  assert.ok(await me({ proxy: proxy.url, noProxy: ['127.0.0.1'], env: {} }));
  assert.equal(proxy.connects.length, mid, 'nothing went through the proxy');
});

test('no proxy anywhere: REST connects directly', async () => {
  const before = proxy.connects.length;
  assert.ok(await me({ env: {} }));
  assert.equal(proxy.connects.length, before);
});

test('http.proxy wins over the environment; an https target uses HTTPS_PROXY, else HTTP_PROXY', () => {
  assert.deepEqual(resolveProxy({ proxy: 'http://setting:1', env: { HTTPS_PROXY: 'http://env:2' } }), {
    httpProxy: 'http://setting:1',
    httpsProxy: 'http://setting:1',
    noProxy: '',
  });
  assert.deepEqual(resolveProxy({ env: { http_proxy: 'http://a:1', NO_PROXY: 'x,.y' } }), {
    httpProxy: 'http://a:1',
    httpsProxy: 'http://a:1',
    noProxy: 'x,.y',
  });
  assert.deepEqual(resolveProxy({ env: {} }), { httpProxy: '', httpsProxy: '', noProxy: '' });
});

function connector(httpProxy?: { url: string }): PodConnector {
  return new PodConnector({
    host: pod.bastion.host,
    port: pod.bastion.port,
    privateKey: pod.privateKey,
    hostKeys: pod.hostKeys,
    readyTimeoutMs: 10_000,
    httpProxy,
  });
}

test('SSH reaches the bastion through an HTTP CONNECT proxy: exec works, the proxy carried it', async () => {
  const before = proxy.connects.length;
  const c = connector({ url: proxy.url });
  try {
    const r = await exec(c, 'echo through-the-proxy; head -c 300000 /dev/zero | wc -c');
    assert.equal(r.exitCode, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), 'through-the-proxy\n300000\n');
  } finally {
    c.dispose();
  }
  assert.deepEqual(proxy.connects.slice(before), [`${pod.bastion.host}:${pod.bastion.port}`]);
});

test('a proxy that wants credentials: they go from the URL to the proxy; without them the error says so', async () => {
  const authed = await startConnectProxy({ user: 'alice', password: 'p@ss word' });
  try {
    const ok = connector({ url: authed.url });
    try {
      const r = await exec(ok, 'echo ok');
      assert.equal(r.stdout.toString(), 'ok\n');
    } finally {
      ok.dispose();
    }
    const bare = connector({ url: `http://127.0.0.1:${authed.port}` });
    try {
      await assert.rejects(bare.connect(), /407 Proxy Authentication Required.*credentials/s);
    } finally {
      bare.dispose();
    }
  } finally {
    await authed.close();
  }
});

test('a proxy that refuses the port, or is not there, fails with a clear error', async () => {
  const refusing = await startConnectProxy({ refusePorts: [pod.bastion.port] });
  try {
    const c = connector({ url: refusing.url });
    try {
      await assert.rejects(c.connect(), /403 Forbidden.*does not allow tunnels to port/s);
    } finally {
      c.dispose();
    }
  } finally {
    await refusing.close();
  }
  const gone = connector({ url: `http://127.0.0.1:${refusing.port}` });
  try {
    await assert.rejects(gone.connect(), /Cannot reach the proxy 127\.0\.0\.1:\d+: ECONNREFUSED/);
  } finally {
    gone.dispose();
  }
});

test('NO_PROXY entries: exact hosts, domain suffixes (with or without a dot), ports, *', () => {
  assert.equal(noProxyMatches('ssh.kgpu.net', 'ssh.kgpu.net', 2222), true);
  assert.equal(noProxyMatches('.kgpu.net', 'ssh.kgpu.net'), true);
  assert.equal(noProxyMatches('kgpu.net', 'ssh.kgpu.net'), true);
  assert.equal(noProxyMatches('kgpu.net', 'notkgpu.net'), false);
  assert.equal(noProxyMatches('ssh.kgpu.net:22', 'ssh.kgpu.net', 2222), false);
  assert.equal(noProxyMatches('a, b  ,*', 'anything'), true);
  assert.equal(noProxyMatches('', 'anything'), false);
});
