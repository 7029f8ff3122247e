// `defectscope-file://image/?path=…`: how the window shows thumbnails, heatmaps and originals —
// only images inside the folders the user chose, checked exactly as the headless server does.
import { net, protocol } from 'electron';
import { pathToFileURL } from 'node:url';
import { allowedImage, chosenFolders } from '../api/http-bridge.js';
import type { AppServices } from '../api/services.js';

export const FILE_SCHEME = 'defectscope-file';

/** Before the app is ready: the scheme may load into <img> like an ordinary one. */
export function registerFileScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: FILE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

export function serveFiles(services: AppServices): void {
  protocol.handle(FILE_SCHEME, (request) => {
    const requested = new URL(request.url).searchParams.get('path') ?? '';
    const check = allowedImage(requested, chosenFolders(services));
    if (!check.ok) return new Response(null, { status: check.status });
    return net.fetch(pathToFileURL(check.path).href);
  });
}
