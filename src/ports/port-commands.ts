import * as vscode from 'vscode';
import { errorMessage } from '../kgpu/api/error-dedup';
import { isValidPort, listListeningSockets, PortOffers, type ListeningSocket } from '../kgpu/ports';
import { jobsFor } from '../platform/jobs-service';
import type { KgpuServices } from '../platform/services';
import { forwardedPortsFor, type ForwardedPortNode } from './forwarded-ports';
import { registerTensorBoardCommand } from './tensorboard-command';

/**
 * Port forwarding in the editor (issue 19):
 *  - `kgpu: Forward Port…` — pod, pod port (the pod's listening sockets are offered), local port
 *    (the same number when free). Argument (tests, e2e): `{ podId, podPort, localPort? }` skips the prompts
 *    and resolves with the forward's `{ podId, podPort, localPort }`.
 *  - rows under the rental: open in the browser (asExternalUri), copy the address, stop.
 *  - while a job of this window runs on a pod, new listening sockets there are offered once:
 *    "train.py is listening on 6006 — Forward".
 *  - `kgpu: Open TensorBoard…` (tensorboard-command.ts).
 */
export function registerPorts(services: KgpuServices): vscode.Disposable {
  const ports = forwardedPortsFor(services);
  const disposables: vscode.Disposable[] = [
    services.rentalChildren.register<ForwardedPortNode>({
      onDidChange: ports.onDidChange,
      getChildren: (pod) => ports.of(pod.pod_id),
      getTreeItem: (node) => {
        const item = new vscode.TreeItem(`localhost:${node.localPort}`, vscode.TreeItemCollapsibleState.None);
        item.description = `→ pod port ${node.podPort}${node.label ? ` · ${node.label}` : ''}`;
        item.tooltip = `Forwarded: 127.0.0.1:${node.localPort} on this machine → 127.0.0.1:${node.podPort} in the pod, through the kgpu pod agent. Click to open it in the browser.`;
        item.iconPath = new vscode.ThemeIcon('plug');
        item.contextValue = 'kgpu.forwardedPort';
        item.id = `kgpu.forwardedPort/${node.podId}/${node.podPort}`;
        item.command = { title: 'Open in Browser', command: 'kgpu.openForwardedPort', arguments: [node] };
        return item;
      },
    }),
    vscode.commands.registerCommand('kgpu.forwardPort', (arg?: unknown) => forwardPortCommand(services, arg)),
    vscode.commands.registerCommand('kgpu.openForwardedPort', async (arg?: unknown) => {
      const node = await pickForward(services, arg);
      if (!node) return undefined;
      const external = await vscode.env.asExternalUri(ports.localUri(node));
      await vscode.env.openExternal(external);
      return external.toString();
    }),
    vscode.commands.registerCommand('kgpu.copyForwardedPortAddress', async (arg?: unknown) => {
      const node = await pickForward(services, arg);
      if (!node) return undefined;
      const address = `127.0.0.1:${node.localPort}`;
      await vscode.env.clipboard.writeText(address);
      void vscode.window.setStatusBarMessage(`kgpu: copied ${address}`, 3000);
      return address;
    }),
    vscode.commands.registerCommand('kgpu.stopForwardingPort', async (arg?: unknown) => {
      const node = await pickForward(services, arg);
      return node ? ports.stop(node.podId, node.podPort) : false;
    }),
    registerPortOffers(services),
    registerTensorBoardCommand(services),
  ];
  return vscode.Disposable.from(...disposables);
}

async function forwardPortCommand(services: KgpuServices, arg: unknown): Promise<ForwardedPortNode | undefined> {
  const o = arg && typeof arg === 'object' ? (arg as { podPort?: unknown; localPort?: unknown }) : {};
  const pod = await services.pickPod(arg, { ready: true, title: 'kgpu: forward a port of which pod?' });
  if (!pod) return undefined;
  const ports = forwardedPortsFor(services);
  let podPort = typeof o.podPort === 'number' ? o.podPort : undefined;
  let label: string | undefined;
  if (podPort === undefined) {
    const picked = await askPodPort(services, pod.pod_id);
    if (!picked) return undefined;
    podPort = picked.port;
    label = picked.name;
  }
  let localPort = typeof o.localPort === 'number' ? o.localPort : undefined;
  if (localPort === undefined && typeof o.podPort !== 'number') {
    const text = await vscode.window.showInputBox({
      title: `kgpu: forward pod port ${podPort} to which local port?`,
      value: String(podPort),
      prompt: 'A port on 127.0.0.1 of this machine (the same number as in the pod when it is free).',
      validateInput: (v) => (isValidPort(Number(v)) ? undefined : 'A port number, 1–65535'),
    });
    if (text === undefined) return undefined;
    localPort = Number(text);
  }
  try {
    const node = await ports.forward(pod.pod_id, podPort, { localPort, ifTaken: 'any', label });
    if (localPort !== undefined && node.localPort !== localPort) {
      void vscode.window.showInformationMessage(
        `kgpu: local port ${localPort} is in use; pod port ${podPort} is forwarded to 127.0.0.1:${node.localPort} instead.`,
      );
    }
    return node;
  } catch (e) {
    services.showError(e, { prefix: `Could not forward port ${podPort} of ${pod.name}:` });
    return undefined;
  }
}

/** A QuickPick of the pod's listening sockets, plus "Other port…". */
async function askPodPort(services: KgpuServices, podId: string): Promise<{ port: number; name?: string } | undefined> {
  const agent = services.connections.session(podId).agent;
  let listening: ListeningSocket[] = [];
  try {
    listening = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "kgpu: reading the pod's listening ports…" },
      () => listListeningSockets((t, o) => agent.openStream(t, o)),
    );
  } catch (e) {
    services.log.warn(`Could not list the pod's listening ports: ${errorMessage(e)}`);
  }
  const other: vscode.QuickPickItem & { port: number; name?: string } = { label: '$(edit) Other port…', port: 0 };
  const items = [
    ...listening.map((s) => ({
      label: String(s.port),
      description: s.name ? `${s.name}${s.pid ? ` (pid ${s.pid})` : ''}` : undefined,
      port: s.port,
      name: s.name,
    })),
    other,
  ];
  const picked = listening.length
    ? await vscode.window.showQuickPick(items, { title: 'kgpu: forward which port of the pod?', placeHolder: 'Listening in the pod now' })
    : other;
  if (!picked) return undefined;
  if (picked !== other) return { port: picked.port, name: picked.name };
  const text = await vscode.window.showInputBox({
    title: 'kgpu: forward which port of the pod?',
    prompt: "A TCP port on the pod's 127.0.0.1 (e.g. 6006 for TensorBoard, 8888 for Jupyter)",
    validateInput: (v) => (isValidPort(Number(v)) ? undefined : 'A port number, 1–65535'),
  });
  return text === undefined ? undefined : { port: Number(text) };
}

async function pickForward(services: KgpuServices, arg: unknown): Promise<ForwardedPortNode | undefined> {
  const ports = forwardedPortsFor(services);
  const o = arg && typeof arg === 'object' ? (arg as { podId?: unknown; podPort?: unknown }) : {};
  if (typeof o.podId === 'string' && typeof o.podPort === 'number') return ports.find(o.podId, o.podPort);
  const all = services.pods.pods.flatMap((p) => ports.of(p.pod_id));
  if (all.length <= 1) {
    if (!all.length) void vscode.window.showInformationMessage('kgpu: no forwarded ports. Use "kgpu: Forward Port…" first.');
    return all[0];
  }
  const picked = await vscode.window.showQuickPick(
    all.map((n) => ({
      label: `localhost:${n.localPort}`,
      description: `→ ${services.pods.get(n.podId)?.name ?? n.podId} port ${n.podPort}`,
      node: n,
    })),
    { title: 'kgpu: which forwarded port?' },
  );
  return picked?.node;
}

/** The "train.py is listening on 6006 — Forward" offers (PortOffers, src/kgpu/ports/port-offers.ts), as notifications. */
function registerPortOffers(services: KgpuServices): vscode.Disposable {
  const hub = jobsFor(services);
  const ports = forwardedPortsFor(services);
  const offers = new PortOffers({
    openStream: async (podId, t, o) => services.connections.session(podId).agent.openStream(t, o),
    isForwarded: (podId, port) => ports.find(podId, port) !== undefined,
    focused: vscode.window.state.focused,
  });
  const running = (): void => offers.setRunning(hub.runner.runningJobs().map((j) => j.podId));
  offers.onDidOffer(async ({ podId, socket: s }) => {
    const choice = await vscode.window.showInformationMessage(
      `kgpu: ${s.name ?? 'a process'} is listening on ${s.port} in ${services.pods.get(podId)?.name ?? podId}.`,
      'Forward',
      'Forward and Open',
    );
    if (!choice) return;
    try {
      const node = await ports.forward(podId, s.port, { label: s.name });
      if (choice === 'Forward and Open') await vscode.commands.executeCommand('kgpu.openForwardedPort', node);
    } catch (e) {
      services.showError(e, { prefix: `Could not forward port ${s.port}:` });
    }
  });
  running();
  return vscode.Disposable.from(
    offers,
    hub.runner.onDidChange(running),
    vscode.window.onDidChangeWindowState((st) => offers.setFocused(st.focused)),
  );
}
