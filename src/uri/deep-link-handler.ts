import * as vscode from 'vscode';
import { parseDeepLink } from '../kgpu/uri/deep-link';
import type { KgpuServices } from '../platform/services';

/**
 * `vscode://kgpu.kgpu/open?pod=<id>` and `…/rent?gpu_model=<model>[&gpu_count=N]` (see
 * src/kgpu/uri/deep-link.ts): each starts the command's usual flow, with its prompts.
 */
export class DeepLinkHandler implements vscode.UriHandler {
  constructor(private readonly services: KgpuServices) {}

  async handleUri(uri: vscode.Uri): Promise<void> {
    const link = parseDeepLink(uri.path, uri.query);
    this.services.log.info(`deep link: ${link.kind}${link.kind === 'invalid' ? '' : ` ${JSON.stringify({ ...link, kind: undefined })}`}`);
    switch (link.kind) {
      case 'open':
        await vscode.commands.executeCommand('kgpu.openWorkspace', { podId: link.podId });
        return;
      case 'rent':
        await vscode.commands.executeCommand('kgpu.rent', { gpu_model: link.gpuModel, gpu_count: link.gpuCount });
        return;
      default:
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: this link cannot be opened. {0}', link.message));
    }
  }
}

export function registerDeepLinks(services: KgpuServices): vscode.Disposable {
  return vscode.window.registerUriHandler(new DeepLinkHandler(services));
}
