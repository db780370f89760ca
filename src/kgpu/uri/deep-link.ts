/**
 * Deep links into the editor, for a dashboard or a README:
 *   vscode://kgpu.kgpu/open?pod=<pod id>          open the pod's /workspace (asks how, as the command does)
 *   vscode://kgpu.kgpu/rent?gpu_model=rtx4090     the Rent flow with the model (and gpu_count) chosen
 * Any web page can open such a link, so a link only ever starts a flow the user still confirms:
 * nothing is rented, opened or run without the usual prompts, and only these few parameters, each
 * checked, are read. Plain Node; src/uri/ registers the handler.
 */
export type DeepLink =
  { kind: 'open'; podId: string } | { kind: 'rent'; gpuModel?: string; gpuCount?: number } | { kind: 'invalid'; message: string };

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `path` as in vscode.Uri.path ("/open"), `query` the raw query string ("pod=…"). */
export function parseDeepLink(path: string, query: string): DeepLink {
  const params = new URLSearchParams(query);
  const action = path.replace(/^\/+|\/+$/g, '');
  if (action === 'open') {
    const pod = params.get('pod') ?? params.get('pod_id') ?? '';
    if (!ID.test(pod))
      return { kind: 'invalid', message: pod ? `"${pod.slice(0, 80)}" is not a pod id.` : 'The link names no pod (open?pod=<pod id>).' };
    return { kind: 'open', podId: pod };
  }
  if (action === 'rent') {
    const model = params.get('gpu_model') ?? params.get('model') ?? undefined;
    if (model !== undefined && !MODEL.test(model)) return { kind: 'invalid', message: `"${model.slice(0, 80)}" is not a GPU model.` };
    const countText = params.get('gpu_count') ?? undefined;
    const count = countText === undefined ? undefined : Number(countText);
    if (count !== undefined && !(Number.isInteger(count) && count >= 1 && count <= 64))
      return { kind: 'invalid', message: `"${countText!.slice(0, 20)}" is not a GPU count.` };
    return { kind: 'rent', gpuModel: model, gpuCount: count };
  }
  return { kind: 'invalid', message: `kgpu links are …/open?pod=<id> and …/rent?gpu_model=<model>; "${action.slice(0, 40)}" is neither.` };
}
