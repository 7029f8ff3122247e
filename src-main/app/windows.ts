// The one app window: isolated, sandboxed, no Node in the page, a strict content security
// policy, and no navigation away from the app or new windows.
import { BrowserWindow, session, shell } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FILE_SCHEME } from './file-protocol.js';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The renderer's page: dist/renderer next to dist/main. */
export const rendererIndex = join(here, '..', '..', 'renderer', 'index.html');

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
  `img-src 'self' data: blob: ${FILE_SCHEME}:; connect-src 'self'; font-src 'self'; ` +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function applySecurityPolicy(): void {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] },
    });
  });
  // The app asks for no permissions (camera, notifications, …); refuse them all.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) =>
    callback(false),
  );
}

export function createMainWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 1024,
    minHeight: 640,
    backgroundColor: '#14171c',
    title: 'DefectScope',
    show: false,
    webPreferences: {
      preload: join(here, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  const contents = window.webContents;
  const appUrl = new URL(`file://${rendererIndex}`).href;
  contents.on('will-navigate', (event, url) => {
    if (url !== appUrl) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Links to documentation open in the user's browser; the app never opens a second window.
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.once('ready-to-show', () => window.show());
  void window.loadFile(rendererIndex);
  return window;
}
