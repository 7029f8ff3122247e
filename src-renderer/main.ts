// Renderer entry: picks the contract client (Electron's preload when present, else HTTP to the
// headless server that served this page) and mounts the app.
import { mount } from 'svelte';
import App from './App.svelte';
import type { PreloadApi } from './lib/api/client.js';
import { createHttpClient } from './lib/api/http-client.js';
import { createIpcClient } from './lib/api/ipc-client.js';
import { createManagers } from './lib/managers/index.js';
import './app.css';

const preload = (window as { defectscope?: PreloadApi }).defectscope;
const client = preload ? createIpcClient(preload) : createHttpClient();

mount(App, {
  target: document.getElementById('app')!,
  props: { managers: createManagers(client) },
});
