// The Electron main process: opens the services (store, jobs, the engine host as a utility
// process), answers the renderer's contract calls over IPC, forwards every event, and owns the
// window and the menu. No tensor work happens here.
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  shell,
  type MenuItemConstructorOptions,
} from 'electron';
import { resumeInterruptedInspections } from '../api/handlers/inspection.js';
import { openServices, type AppServices } from '../api/services.js';
import { errorMessage } from '../shared/errors.js';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from './channels.js';
import { utilityEngineHost } from './engine-transport.js';
import { registerFileScheme, serveFiles } from './file-protocol.js';
import { applySecurityPolicy, createMainWindow } from './windows.js';

let services: AppServices | null = null;
let window: BrowserWindow | null = null;

function buildMenu(): void {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        {
          label: 'Open Data Folder',
          click: () => services && void shell.openPath(services.ctx.store.paths.root),
        },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { role: 'toggleDevTools' },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [
        {
          label: 'About DefectScope',
          click: () =>
            void dialog.showMessageBox({
              title: 'DefectScope',
              message: `DefectScope ${app.getVersion()}`,
              detail: `Data folder: ${services?.ctx.store.paths.root ?? '—'}`,
            }),
        },
      ],
    },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function start(): void {
  // The CLI and the desktop app share one data folder: Electron's userData unless overridden.
  services = openServices({
    dataDir: process.env.DEFECTSCOPE_DATA ?? app.getPath('userData'),
    launchEngine: utilityEngineHost,
  });
  const router = services.router;
  ipcMain.handle(INVOKE_CHANNEL, (event, name: unknown, args: unknown) => {
    // Only our own page may call; anything else that got a frame here is refused.
    if (event.senderFrame?.url && !event.senderFrame.url.startsWith('file://')) {
      return {
        ok: false,
        error: { code: 'bad-argument', message: 'Calls come from the app window only.' },
      };
    }
    return router.answer(String(name), args);
  });
  services.ctx.events.onAny((name, payload) => {
    if (window && !window.isDestroyed()) window.webContents.send(EVENT_CHANNEL, name, payload);
  });
  serveFiles(services);
  // An app that closed or crashed mid-inspection picks it up where it left off.
  resumeInterruptedInspections(services.ctx);
  applySecurityPolicy();
  buildMenu();
  window = createMainWindow();
  window.on('closed', () => (window = null));
}

registerFileScheme();
if (!app.requestSingleInstanceLock()) {
  // A second copy would open the same database; hand over to the first and leave.
  app.quit();
} else {
  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (navigation) => {
      if (!navigation.url.startsWith('file://')) navigation.preventDefault();
    });
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
  app
    .whenReady()
    .then(start)
    .catch((error: unknown) => {
      dialog.showErrorBox('DefectScope could not start', errorMessage(error));
      app.exit(1);
    });
  app.on('activate', () => {
    if (services && BrowserWindow.getAllWindows().length === 0) window = createMainWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing || !services) return;
    // Jobs are recorded as interrupted and the engine host stopped before the process ends.
    closing = true;
    event.preventDefault();
    void services.close().finally(() => app.quit());
  });
}
