import * as vscode from 'vscode';
import { errorMessage } from '../kgpu/api/error-dedup';
import { isValidPort, listListeningSockets, PortOffers, type ListeningSocket } from '../kgpu/ports';
import { decodeCommandArgs, optionsOf, podIdOf } from '../platform/command-args';
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
        const item = new vscode.TreeItem(`localhost:${node.localPort}`, vscode.TreeItemCollapsibleState.None); // l10n-ignore: an address
        item.description = node.label
          ? vscode.l10n.t('→ pod port {0} · {1}', node.podPort, node.label)
          : vscode.l10n.t('→ pod port {0}', node.podPort);
        item.tooltip = vscode.l10n.t(
          'Forwarded: 127.0.0.1:{0} on this machine → 127.0.0.1:{1} in the pod, through the kgpu pod agent. Click to open it in the browser.',
          node.localPort,
          node.podPort,
        );
        item.iconPath = new vscode.ThemeIcon('plug');
        item.contextValue = 'kgpu.forwardedPort';
        item.id = `kgpu.forwardedPort/${node.podId}/${node.podPort}`;
        item.command = { title: vscode.l10n.t('Open in Browser'), command: 'kgpu.openForwardedPort', arguments: [node] };
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
      void vscode.window.setStatusBarMessage(vscode.l10n.t('kgpu: copied {0}', address), 3000);
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
  const o = optionsOf(decodeCommandArgs(arg)) as { podPort?: unknown; localPort?: unknown };
  const pod = await services.pickPod(arg, { ready: true, title: vscode.l10n.t('kgpu: forward a port of which pod?') });
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
      title: vscode.l10n.t('kgpu: forward pod port {0} to which local port?', podPort),
      value: String(podPort),
      prompt: vscode.l10n.t('A port on 127.0.0.1 of this machine (the same number as in the pod when it is free).'),
      validateInput: (v) => (isValidPort(Number(v)) ? undefined : vscode.l10n.t('A port number, 1–65535')),
    });
    if (text === undefined) return undefined;
    localPort = Number(text);
  }
  try {
    const node = await ports.forward(pod.pod_id, podPort, { localPort, ifTaken: 'any', label });
    if (localPort !== undefined && node.localPort !== localPort) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t(
          'kgpu: local port {0} is in use; pod port {1} is forwarded to 127.0.0.1:{2} instead.',
          localPort,
          podPort,
          node.localPort,
        ),
      );
    }
    return node;
  } catch (e) {
    services.showError(e, { prefix: vscode.l10n.t('Could not forward port {0} of {1}:', podPort, pod.name) });
    return undefined;
  }
}

/** A QuickPick of the pod's listening sockets, plus "Other port…". */
async function askPodPort(services: KgpuServices, podId: string): Promise<{ port: number; name?: string } | undefined> {
  const agent = services.connections.session(podId).agent;
  let listening: ListeningSocket[] = [];
  try {
    listening = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: vscode.l10n.t("kgpu: reading the pod's listening ports…") },
      () => listListeningSockets((t, o) => agent.openStream(t, o)),
    );
  } catch (e) {
    services.log.warn(`Could not list the pod's listening ports: ${errorMessage(e)}`);
  }
  const other: vscode.QuickPickItem & { port: number; name?: string } = { label: vscode.l10n.t('$(edit) Other port…'), port: 0 };
  const items = [
    ...listening.map((s) => ({
      label: String(s.port),
      description: s.name ? (s.pid ? vscode.l10n.t('{0} (pid {1})', s.name, s.pid) : s.name) : undefined,
      port: s.port,
      name: s.name,
    })),
    other,
  ];
  const picked = listening.length
    ? await vscode.window.showQuickPick(items, {
        title: vscode.l10n.t('kgpu: forward which port of the pod?'),
        placeHolder: vscode.l10n.t('Listening in the pod now'),
      })
    : other;
  if (!picked) return undefined;
  if (picked !== other) return { port: picked.port, name: picked.name };
  const text = await vscode.window.showInputBox({
    title: vscode.l10n.t('kgpu: forward which port of the pod?'),
    prompt: vscode.l10n.t("A TCP port on the pod's 127.0.0.1 (e.g. 6006 for TensorBoard, 8888 for Jupyter)"),
    validateInput: (v) => (isValidPort(Number(v)) ? undefined : vscode.l10n.t('A port number, 1–65535')),
  });
  return text === undefined ? undefined : { port: Number(text) };
}

async function pickForward(services: KgpuServices, arg: unknown): Promise<ForwardedPortNode | undefined> {
  const ports = forwardedPortsFor(services);
  // A forwarded-port row ({kind: 'forwardedPort', podId, podPort, …}) or `{podId, podPort}`.
  const args = decodeCommandArgs(arg);
  const podId = podIdOf(args);
  const { podPort } = optionsOf(args);
  if (podId && typeof podPort === 'number') return ports.find(podId, podPort);
  const all = services.pods.pods.flatMap((p) => ports.of(p.pod_id));
  if (all.length <= 1) {
    if (!all.length) void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: no forwarded ports. Use "kgpu: Forward Port…" first.'));
    return all[0];
  }
  const picked = await vscode.window.showQuickPick(
    all.map((n) => ({
      label: `localhost:${n.localPort}`, // l10n-ignore: an address
      description: vscode.l10n.t('→ {0} port {1}', services.pods.get(n.podId)?.name ?? n.podId, n.podPort),
      node: n,
    })),
    { title: vscode.l10n.t('kgpu: which forwarded port?') },
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
    const where = services.pods.get(podId)?.name ?? podId;
    const forward = vscode.l10n.t('Forward');
    const forwardAndOpen = vscode.l10n.t('Forward and Open');
    const choice = await vscode.window.showInformationMessage(
      s.name
        ? vscode.l10n.t('kgpu: {0} is listening on {1} in {2}.', s.name, s.port, where)
        : vscode.l10n.t('kgpu: a process is listening on {0} in {1}.', s.port, where),
      forward,
      forwardAndOpen,
    );
    if (!choice) return;
    try {
      const node = await ports.forward(podId, s.port, { label: s.name });
      if (choice === forwardAndOpen) await vscode.commands.executeCommand('kgpu.openForwardedPort', node);
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not forward port {0}:', s.port) });
    }
  });
  running();
  return vscode.Disposable.from(
    offers,
    hub.runner.onDidChange(running),
    vscode.window.onDidChangeWindowState((st) => offers.setFocused(st.focused)),
  );
}
