// The headless server: the contract over HTTP behind the access token, events over SSE, and
// images only from the folders the user chose.
import { mkdtempSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServices, type AppServices } from '../../src-main/api/services.js';
import { importDataset } from '../../src-main/data/importers/import.js';
import {
  allowedImage,
  startHttpBridge,
  TOKEN_HEADER,
  type HttpBridge,
} from '../../src-main/api/http-bridge.js';

const PNG_1x1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('defectscope serve', () => {
  let scratch: string;
  let services: AppServices;
  let bridge: HttpBridge;
  let base: string;
  const auth = () => ({ [TOKEN_HEADER]: bridge.token });

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ds-http-'));
    mkdirSync(join(scratch, 'data', 'cache'), { recursive: true });
    mkdirSync(join(scratch, 'elsewhere'));
    writeFileSync(join(scratch, 'data', 'cache', 'inside.png'), PNG_1x1);
    writeFileSync(join(scratch, 'elsewhere', 'secret.png'), PNG_1x1);
    // A link inside the data folder that points out of it.
    symlinkSync(
      join(scratch, 'elsewhere', 'secret.png'),
      join(scratch, 'data', 'cache', 'link.png'),
    );
    mkdirSync(join(scratch, 'ui'));
    writeFileSync(join(scratch, 'ui', 'index.html'), '<!doctype html><title>DefectScope</title>');
    services = openServices({ dataDir: join(scratch, 'data') });
    bridge = await startHttpBridge({ services, rendererDir: join(scratch, 'ui') });
    base = `http://127.0.0.1:${bridge.port}`;
  });

  afterAll(async () => {
    await bridge?.close();
    await services?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('turns away a request without the access token', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(401);
    const call = await fetch(`${base}/rpc/settings/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [TOKEN_HEADER]: 'not-the-token' },
      body: '{}',
    });
    expect(call.status).toBe(401);
  });

  it('lets the printed address in, keeps the token in a cookie, and serves the page', async () => {
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
    const first = await fetch(bridge.url, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toContain(bridge.token);
    const page = await fetch(`${base}/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('DefectScope');
  });

  it('answers a contract call, and a bad argument with a typed error', async () => {
    const ok = await fetch(`${base}/rpc/settings/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: '{}',
    });
    expect(ok.status).toBe(200);
    const answer = (await ok.json()) as { ok: boolean; value: { backend: string } };
    expect(answer).toMatchObject({ ok: true, value: { backend: 'auto' } });

    const bad = await fetch(`${base}/rpc/settings/set`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ backend: 'quantum' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ ok: false, error: { code: 'bad-argument' } });
  });

  it('pushes events over server-sent events', async () => {
    const controller = new AbortController();
    const stream = await fetch(`${base}/events`, { headers: auth(), signal: controller.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body!.getReader();
    await reader.read(); // the greeting: the stream is subscribed from here on
    await fetch(`${base}/rpc/settings/set`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ inspector: 'Ada' }),
    });
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('event: settings/changed');
    expect(text).toContain('"inspector":"Ada"');
  });

  it('shows images from the data folder and refuses every path outside the chosen folders', async () => {
    const file = (path: string) =>
      fetch(`${base}/files?path=${encodeURIComponent(path)}`, { headers: auth() });
    const inside = await file(join(scratch, 'data', 'cache', 'inside.png'));
    expect(inside.status).toBe(200);
    expect(inside.headers.get('content-type')).toBe('image/png');
    expect((await file(join(scratch, 'elsewhere', 'secret.png'))).status).toBe(403);
    expect((await file(`${scratch}/data/../elsewhere/secret.png`)).status).toBe(403);
    expect((await file(join(scratch, 'data', 'cache', 'link.png'))).status).toBe(403);
    expect((await file('/etc/passwd')).status).toBe(403);
    expect((await file(join(scratch, 'data', 'defectscope.db'))).status).toBe(403);
  });

  it('shows an image imported from the command line (no job), and not its folder', async () => {
    const file = (path: string) =>
      fetch(`${base}/files?path=${encodeURIComponent(path)}`, { headers: auth() });
    const good = join(scratch, 'line', 'valve', 'good');
    mkdirSync(good, { recursive: true });
    const imported = join(good, 'part1.png');
    writeFileSync(
      imported,
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#777' } })
        .png()
        .toBuffer(),
    );
    const summary = await importDataset(services.ctx.store, good, {});
    expect(summary.added).toBe(1);
    // Came after the import: not the user's, though it sits beside an imported image.
    const later = join(good, 'part2.png');
    writeFileSync(later, PNG_1x1);
    expect((await file(imported)).status).toBe(200);
    expect((await file(later)).status).toBe(403);
    rmSync(imported);
    expect((await file(imported)).status).toBe(404);
  });

  it('follows a link to an image from a folder the user inspected or imported, and no other link', () => {
    // A camera folder put together from links, as inspection reads it.
    const camera = join(scratch, 'camera');
    mkdirSync(camera);
    const secret = join(scratch, 'elsewhere', 'secret.png');
    symlinkSync(secret, join(camera, 'linked.png'));
    writeFileSync(join(scratch, 'elsewhere', 'notes.txt'), 'not an image');
    symlinkSync(join(scratch, 'elsewhere', 'notes.txt'), join(camera, 'notes.png'));
    symlinkSync(join(scratch, 'elsewhere'), join(camera, 'linked-folder'));
    const folders = { data: join(scratch, 'data'), user: [camera], recorded: () => false };
    expect(allowedImage(join(camera, 'linked.png'), folders)).toEqual({
      ok: true,
      path: realpathSync(secret),
    });
    const refused = { ok: false, status: 403 };
    // Not to a file that is no image, not through a linked folder, not from the data folder.
    expect(allowedImage(join(camera, 'notes.png'), folders)).toEqual(refused);
    expect(allowedImage(join(camera, 'linked-folder', 'secret.png'), folders)).toEqual(refused);
    expect(allowedImage(join(scratch, 'data', 'cache', 'link.png'), folders)).toEqual(refused);
    expect(allowedImage(secret, folders)).toEqual(refused);
  });
});
