// The contract over HTTP for `defectscope serve` and the end-to-end tests: POST /rpc/<domain>/<verb>
// answers a call through the router, GET /events streams every event (server-sent events), and
// the built renderer plus image files from the user's own folders are served — on 127.0.0.1 only,
// behind a random per-start token.
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { CallAnswer } from '../shared/contract.js';
import type { ImportRequest, InspectRequest } from '../shared/dto.js';
import type { AppServices } from './services.js';

/** The cookie and header the token travels in after the first page load. */
export const TOKEN_COOKIE = 'defectscope_token';
export const TOKEN_HEADER = 'x-defectscope-token';

const MAX_BODY = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Files a page may load: images only, so a chosen folder never leaks a document or a key. */
const imageExtensions = new Set([
  '.png',
  '.jpg',
  '.jpeg',
  '.bmp',
  '.webp',
  '.tif',
  '.tiff',
  '.gif',
]);

// The page loads only its own scripts; styles may be inline because Svelte sets style attributes.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface HttpBridgeOptions {
  services: AppServices;
  /** The built renderer (dist/renderer); without it only the API and files are served. */
  rendererDir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Fixed in tests; random (32 bytes, hex) otherwise. */
  token?: string;
}

export interface HttpBridge {
  port: number;
  token: string;
  /** What to open in a browser: the page, with the token that lets it in. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

function isInside(folder: string, candidate: string): boolean {
  const rel = relative(folder, candidate);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.startsWith(sep));
}

function realOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/** The folders whose images the UI may show (chosenFolders). */
export interface ChosenFolders {
  /** The data folder: thumbnails, heatmaps and models, written by the app. */
  data: string;
  /**
   * Every imported dataset root and every inspected folder. Import and inspection read a link to
   * an image as the image (a folder put together from links), so the UI shows it too.
   */
  user: string[];
  /**
   * Whether the store records an image at this absolute path: an imported image is the user's
   * own wherever it was imported from (the command line's imports leave no job behind).
   */
  recorded: (path: string) => boolean;
}

/**
 * The folders whose images the UI may show: the data folder, every imported dataset root and
 * every inspected folder, and every image the store records — the ones the user chose, nothing
 * else.
 */
export function chosenFolders(services: AppServices): ChosenFolders {
  const { ctx } = services;
  const user = new Set<string>();
  for (const job of ctx.jobs.list({ kinds: ['import', 'inspect'] })) {
    const args = job.args as ImportRequest | InspectRequest;
    const folder = 'root' in args ? args.root : args.folder;
    if (typeof folder === 'string') user.add(resolve(folder));
  }
  return {
    data: ctx.store.paths.root,
    user: [...user],
    recorded: (path) => ctx.store.images.recorded(path),
  };
}

/**
 * The real path of an image the UI asks for, or why not: it must exist and be an image, and —
 * after resolving `..` and links — lie inside one of the chosen folders (their real paths too) or
 * be an image the store records. A link that leads out of them is followed only where it sits in
 * a folder the user chose to import or inspect, or is itself a recorded image, and only to an
 * image file: that image was read as the user's own.
 */
export function allowedImage(
  requested: string,
  folders: ChosenFolders,
): { ok: true; path: string } | { ok: false; status: 403 | 404 } {
  if (!isAbsolute(requested) || requested.includes('\0')) return { ok: false, status: 403 };
  if (!imageExtensions.has(extname(requested).toLowerCase())) return { ok: false, status: 403 };
  const realRoots = (paths: string[]) =>
    paths.map(realOrNull).filter((f): f is string => f !== null);
  const user = realRoots(folders.user);
  const roots = [...realRoots([folders.data]), ...user];
  const lexical = resolve(requested);
  // Asked of the store only outside the chosen folders: a grid's thumbnails never need it.
  const recorded = () => folders.recorded(lexical);
  const real = realOrNull(requested);
  if (!real) {
    // Say 404 only for a path that would be allowed, so the check never reveals what exists.
    return roots.some((root) => isInside(root, lexical)) || recorded()
      ? { ok: false, status: 404 }
      : { ok: false, status: 403 };
  }
  if (!roots.some((root) => isInside(root, real))) {
    // A recorded image, or a link out of them whose own place (its folder resolved) is in a
    // user's folder.
    const folder = realOrNull(dirname(lexical));
    const link = folder === null ? null : join(folder, basename(requested));
    const followed =
      imageExtensions.has(extname(real).toLowerCase()) &&
      ((link !== null && user.some((root) => isInside(root, link))) || recorded());
    if (!followed) return { ok: false, status: 403 };
  }
  if (!statSync(real).isFile()) return { ok: false, status: 404 };
  return { ok: true, path: real };
}

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function sendFile(res: ServerResponse, path: string, extraHeaders: Record<string, string> = {}) {
  const type = contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'content-type': type,
    'content-length': statSync(path).size,
    'x-content-type-options': 'nosniff',
    ...extraHeaders,
  });
  createReadStream(path).pipe(res);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** HTTP status for a typed error, so logs and devtools read right; the body says the rest. */
function statusOf(answer: CallAnswer): number {
  if (answer.ok) return 200;
  switch (answer.error.code) {
    case 'bad-argument':
      return 400;
    case 'not-found':
      return 404;
    case 'unavailable':
      return 501;
    case 'internal':
      return 500;
    default:
      return 422;
  }
}

export async function startHttpBridge(options: HttpBridgeOptions): Promise<HttpBridge> {
  const { services } = options;
  const token = options.token ?? randomBytes(32).toString('hex');
  const rendererDir = options.rendererDir ? resolve(options.rendererDir) : undefined;
  const streams = new Set<ServerResponse>();
  let port = 0;
  // A grid asks for a hundred images at once; the folder list changes only with a new job.
  let folders = { at: Date.now(), list: chosenFolders(services) };
  const forgetFolders = services.ctx.events.on('job/queued', () => (folders.at = 0));
  const currentFolders = () => {
    if (Date.now() - folders.at > 1000) folders = { at: Date.now(), list: chosenFolders(services) };
    return folders.list;
  };

  const unsubscribe = services.ctx.events.onAny((name, payload) => {
    const frame = `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const res of streams) res.write(frame);
  });
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const serveRenderer = (res: ServerResponse, pathname: string) => {
    if (!rendererDir || !existsSync(join(rendererDir, 'index.html'))) {
      send(
        res,
        503,
        'The user interface is not built. Run `npm run build:renderer`, then start the server again.',
      );
      return;
    }
    const wanted = resolve(rendererDir, '.' + decodeURIComponent(pathname));
    const file =
      isInside(rendererDir, wanted) && existsSync(wanted) && statSync(wanted).isFile()
        ? wanted
        : join(rendererDir, 'index.html'); // one page: every other path is the app's own
    const headers: Record<string, string> = file.endsWith('.html')
      ? { 'content-security-policy': CSP, 'cache-control': 'no-store' }
      : { 'cache-control': 'max-age=3600' };
    sendFile(res, file, headers);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Only this machine's loopback names: a page elsewhere cannot rebind a DNS name onto us.
    const host = (req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return send(res, 403, 'Wrong host.');
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const queryToken = url.searchParams.get('token') ?? undefined;
    const given =
      (req.headers[TOKEN_HEADER] as string | undefined) ?? cookieToken(req) ?? queryToken;
    if (!sameToken(given, token)) {
      return send(
        res,
        401,
        'Open DefectScope with the address `defectscope serve` printed; it carries the access token.',
      );
    }
    const isApi = ['/rpc/', '/events', '/files'].some((p) => url.pathname.startsWith(p));
    if (queryToken && req.method === 'GET' && !isApi) {
      // First load: keep the token in a cookie and take it out of the address bar and history.
      res.writeHead(303, {
        'set-cookie': `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        location: url.pathname,
      });
      return res.end();
    }

    if (url.pathname.startsWith('/rpc/')) {
      if (req.method !== 'POST') return send(res, 405, 'Calls are POSTed.');
      // A form on another site cannot send JSON, so this also stops cross-site posts.
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return send(res, 415, 'Send the arguments as application/json.');
      }
      let args: unknown;
      try {
        const body = await readBody(req);
        args = body.trim() ? JSON.parse(body) : {};
      } catch {
        const answer: CallAnswer = {
          ok: false,
          error: { code: 'bad-argument', message: 'The request body is not JSON (at most 1 MB).' },
        };
        return send(res, 400, JSON.stringify(answer), 'application/json');
      }
      const answer = await services.router.answer(url.pathname.slice('/rpc/'.length), args);
      return send(res, statusOf(answer), JSON.stringify(answer), 'application/json');
    }

    if (url.pathname === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(': connected\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }

    if (url.pathname === '/files') {
      if (req.method !== 'GET') return send(res, 405, 'Files are read with GET.');
      const check = allowedImage(url.searchParams.get('path') ?? '', currentFolders());
      if (!check.ok) {
        return send(
          res,
          check.status,
          check.status === 403
            ? 'Only images inside imported, inspected or data folders are shown.'
            : 'No such image.',
        );
      }
      return sendFile(res, check.path, { 'cache-control': 'private, max-age=60' });
    }

    if (req.method !== 'GET') return send(res, 405, 'Not here.');
    return serveRenderer(res, url.pathname);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, `DefectScope failed: ${String(error)}`);
      else res.end();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/?token=${token}`,
    server,
    async close() {
      unsubscribe();
      forgetFolders();
      clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
