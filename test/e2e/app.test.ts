// The inspector's loop in the real UI: `defectscope serve` on a fresh data folder, driven in
// Debian's Chromium — import a generated dataset, train and watch progress, inspect a folder and
// see the flags, review with the keyboard, and find the verdicts still there after a reload.
// A screenshot of every view goes to test/e2e/screenshots/ on each run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const root = join(import.meta.dirname, '..', '..');
const shots = join(root, 'test', 'e2e', 'screenshots');
const cli = join(root, 'bin', 'defectscope.js');
const hasChromium = existsSync(CHROMIUM);

/** expect.poll with room for a busy CI machine (its default gives up after one second). */
const poll = <T>(read: () => T | Promise<T>, options: { timeout?: number } = {}) =>
  expect.poll(read, { timeout: 20_000, interval: 100, ...options });

const title = hasChromium
  ? 'DefectScope in Chromium'
  : `DefectScope in Chromium — skipped: ${CHROMIUM} is not installed (apt-get install chromium)`;

describe.skipIf(!hasChromium)(title, () => {
  let scratch: string;
  let samples: string;
  let camera: string;
  let server: ChildProcess;
  let browser: Browser;
  let page: Page;
  let url: string;

  const nav = (view: string) => page.getByRole('button', { name: view, exact: true }).click();
  /** Once every image has loaded and bars have finished moving, so the picture is the view. */
  const shot = async (name: string) => {
    await expect
      .poll(() =>
        page.evaluate(
          // Runs in the page (a string: this file is type-checked without the DOM library).
          `[...document.images]
            .filter((img) => img.getBoundingClientRect().top < window.innerHeight)
            .every((img) => img.complete && img.naturalWidth > 0)`,
        ),
      )
      .toBe(true);
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
  };

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ds-e2e-'));
    samples = join(scratch, 'samples');
    mkdirSync(shots, { recursive: true });
    if (!existsSync(join(root, 'dist', 'renderer', 'index.html'))) {
      const built = spawnSync('npx', ['vite', 'build'], { cwd: root, encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
    }
    const synth = spawnSync(
      process.execPath,
      [cli, 'synth', samples, '--types', 'nut,wood', '--per-type', '16', '--size', '128'],
      { encoding: 'utf8' },
    );
    expect(synth.status, synth.stderr).toBe(0);
    // A camera writes one flat folder: the nut test images, named by what they show.
    camera = join(scratch, 'camera');
    mkdirSync(camera);
    const test = join(samples, 'nut', 'test');
    for (const kind of readdirSync(test)) {
      for (const file of readdirSync(join(test, kind))) {
        copyFileSync(join(test, kind, file), join(camera, `${kind}_${file}`));
      }
    }

    server = spawn(process.execPath, [cli, 'serve', '--data-dir', join(scratch, 'data')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`serve printed no address: ${out}`)), 30_000);
      server.stdout!.on('data', (data) => {
        out += String(data);
        const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[0]);
        }
      });
      server.stderr!.on('data', (data) => (out += String(data)));
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(url);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('imports a generated dataset and shows its types, counts and thumbnails', async () => {
    // The token went into a cookie and out of the address bar.
    expect(page.url()).not.toContain('token=');
    await page.locator('input[name="import-root"]').fill(samples);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expect
      .poll(() => page.locator('[data-testid="job-progress"]').getAttribute('data-status'), {
        timeout: 90_000,
      })
      .toBe('done');
    const types = page.locator('[data-testid="type-list"] tbody tr');
    await poll(() => types.count()).toBe(2);
    await page.getByRole('button', { name: 'nut', exact: true }).click();
    const thumbs = page.locator('[data-testid="image-grid"] img');
    await poll(() => thumbs.count()).toBeGreaterThan(10);
    // Thumbnails really load (the file route lets them through).
    await expect
      .poll(() =>
        thumbs.first().evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBeGreaterThan(0);
    await shot('datasets');
  }, 120_000);

  it('starts a training job and shows its progress and loss', async () => {
    await nav('Train');
    await page.getByText('SimCLR encoder across types').click();
    await page.getByRole('checkbox', { name: 'wood' }).check();
    await page.locator('summary', { hasText: 'Advanced' }).click();
    await page.getByLabel('Epochs').fill('4');
    await page.getByLabel('Batch size').fill('8');
    await page.getByLabel('Image size (px)').fill('64');
    await page.getByRole('button', { name: 'Start training' }).click();
    const progress = page.locator('[data-testid="job-progress"]');
    await expect
      .poll(() => progress.getAttribute('data-status'), { timeout: 60_000 })
      .toMatch(/running|done/);
    // The loss chart draws once the first steps report their loss.
    await poll(() => page.locator('canvas').count(), { timeout: 120_000 }).toBe(1);
    await expect
      .poll(() => progress.getAttribute('data-status'), { timeout: 180_000 })
      .toBe('done');
    await shot('train');
  }, 300_000);

  it('retrains a type in one click, within a region of interest dragged on its image, and shows the new model as active', async () => {
    await nav('Models');
    await page.locator('select').first().selectOption('nut');
    // The region: dragged on a nut image shown whole at its own aspect, from 10 % to 90 % of it.
    await page.getByTestId('roi-panel').locator('summary').click();
    const sample = page.getByTestId('roi-editor').locator('img');
    await poll(() =>
      page.evaluate(`document.querySelector('[data-testid="roi-editor"] img')?.naturalWidth ?? 0`),
    ).toBe(128);
    const box = (await sample.boundingBox())!;
    expect(box.width / box.height).toBeCloseTo(1, 1);
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.1);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 4 });
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.9, { steps: 4 });
    await page.mouse.up();
    const field = (name: string) =>
      page.locator(`input[name="roi-${name}"]`).inputValue().then(Number);
    await poll(() => field('w')).toBeGreaterThan(90);
    expect(Math.abs((await field('x')) - 13)).toBeLessThanOrEqual(2);
    expect(Math.abs((await field('h')) - 102)).toBeLessThanOrEqual(3);
    // Typed: the fields set it too.
    await page.locator('input[name="roi-x"]').fill('12');
    await page.locator('input[name="roi-x"]').dispatchEvent('change');
    await page.locator('input[name="roi-y"]').fill('12');
    await page.locator('input[name="roi-y"]').dispatchEvent('change');
    await poll(() => page.getByTestId('roi-panel').locator('summary').textContent()).toMatch(
      /Region of interest: 12,12,\d+,\d+/,
    );
    const region = (await page.getByTestId('roi-panel').locator('summary').textContent())!
      .replace(/.*Region of interest: /, '')
      .trim();
    // The retrain settings fold away, and say what the next retrain will use.
    const settings = page.getByTestId('retrain-settings');
    expect(await settings.locator('summary').textContent()).toBe(
      'Retrain settings: Standard detail · 2 % false alarms · whole image at 224 px · views auto',
    );
    await settings.locator('summary').click();
    // Whole images unless the inspector picks tiles for large images with small defects.
    expect(await page.getByTestId('tile-scale').locator('option:checked').textContent()).toBe(
      'whole image at 224 px',
    );
    expect(await page.getByTestId('tile-scale').locator('option').count()).toBe(4);
    // The views are left to the painted defects unless the inspector sets them.
    expect(await page.getByTestId('views').locator('option:checked').textContent()).toBe('auto');
    expect(await page.getByTestId('views').locator('option').allTextContents()).toEqual([
      'auto',
      'mirrored and turned',
      'as it is',
    ]);
    await shot('models-roi');
    await page.getByRole('button', { name: /Retrain nut/ }).click();
    await expect
      .poll(() => page.locator('[data-testid="job-progress"]').getAttribute('data-status'), {
        timeout: 240_000,
      })
      .toBe('done');
    await expect
      .poll(() => page.locator('[data-testid="model-table"] .status.active').count())
      .toBe(1);
    // The model keeps to the region.
    await poll(() =>
      page.locator('[data-testid="model-table"] tr', { hasText: 'active' }).textContent(),
    ).toContain(region);
    await poll(() => page.getByTestId('model-features').textContent()).toContain(
      'Scored: whole image at 224 px.',
    );
    // Its curves from the day it was fitted: the validation images it recorded, nut's defect
    // labels among them, before it has inspected anything.
    await poll(() => page.locator('canvas').count(), { timeout: 30_000 }).toBe(3);
    expect(await page.getByTestId('model-curves-source').textContent()).toMatch(
      /^Curves from \d+ validation images \(labeled defects\)$/,
    );
  }, 300_000);

  it('inspects a folder and shows the flagged images worst first', async () => {
    await nav('Inspect');
    await page.locator('input[name="inspect-folder"]').fill(camera);
    await page.locator('select[name="inspect-type"]').selectOption('nut');
    await page.getByRole('button', { name: 'Start inspection' }).click();
    await expect
      .poll(() => page.locator('[data-testid="job-progress"]').getAttribute('data-status'), {
        timeout: 240_000,
      })
      .toBe('done');
    const tiles = page.locator('[data-testid="result-grid"] figure');
    await poll(() => tiles.count()).toBe(readdirSync(camera).length);
    await expect
      .poll(() => page.locator('figure.DEFECT, figure.UNSURE').count())
      .toBeGreaterThan(0);
    expect(await page.getByTestId('inspect-backend').textContent()).not.toContain('starting');
    await shot('inspect');
  }, 300_000);

  it('reviews two images with the keyboard, and the verdicts survive a reload', async () => {
    await nav('Settings');
    await page.locator('input[name="inspector"]').fill('A. Novak');
    await page.getByRole('button', { name: 'Save' }).click();
    await nav('Review');
    await poll(() => page.getByText('Saved as A. Novak').count()).toBe(1);
    const remaining = page.getByTestId('review-remaining');
    await poll(async () => Number(await remaining.textContent())).toBeGreaterThan(2);
    const before = Number(await remaining.textContent());
    await page.keyboard.press('h'); // heatmap off and on again: the keys reach the view
    await page.keyboard.press('h');
    // The inspector's verdict: the file name says what the generator drew.
    for (let reviewed = 1; reviewed <= 2; reviewed++) {
      const name = await page.getByTestId('review-name').textContent();
      await page.keyboard.press(name?.startsWith('good') ? 'g' : 'd');
      await poll(async () => Number(await remaining.textContent())).toBe(before - reviewed);
    }
    await poll(() => page.getByTestId('recent-verdicts').locator('li').count()).toBe(2);
    await shot('review');

    await page.reload();
    await nav('Review');
    await poll(async () => Number(await remaining.textContent())).toBe(before - 2);
    await nav('Inspect');
    await expect
      .poll(() => page.locator('[data-testid="result-grid"] .verdict').count(), { timeout: 30_000 })
      .toBe(2);
  }, 120_000);

  it('shows the model with its curves and confusion matrix, and the settings', async () => {
    await nav('Models');
    await page.locator('select').first().selectOption('nut');
    // ROC, precision-recall and the histogram, from the model's validation images.
    await poll(() => page.locator('canvas').count(), { timeout: 30_000 }).toBe(3);
    await poll(() => page.getByTestId('confusion-matrix').isVisible()).toBe(true);
    await shot('models');
    // It has now also scored reviewed images in an inspection: the curves can come from those.
    const source = page.locator('select[name="curve-source"]');
    await source.selectOption('reviewed');
    await poll(() => page.getByTestId('model-curves-source').textContent()).toMatch(
      /^Curves from \d+ labeled or reviewed images it scored in inspections$/,
    );
    await source.selectOption('validation');
    await poll(() => page.getByTestId('model-curves-source').textContent()).toMatch(
      /^Curves from \d+ validation images/,
    );
    await nav('Settings');
    await poll(() => page.locator('input[name="inspector"]').inputValue()).not.toBe('');
    await shot('settings');
  }, 60_000);

  it('inspects a folder of a never-seen type zero-shot, at the fine detail, within a region', async () => {
    await nav('Inspect');
    await page.locator('input[name="inspect-folder"]').fill(camera);
    await page.locator('select[name="inspect-type"]').selectOption('__new__');
    await page.getByPlaceholder('e.g. gasket').fill('gasket');
    await page.locator('select[name="inspect-detail"]').selectOption('fine');
    // A region typed wrong is said, and nothing starts.
    const region = page.locator('input[name="inspect-region"]');
    await region.fill('8, 8, 112');
    await page.getByRole('button', { name: 'Start inspection' }).click();
    await poll(() => page.locator('.notice.error').last().textContent()).toMatch(
      /Region takes x,y,w,h in the image's pixels .*got '8, 8, 112'/,
    );
    // The part: the 128 px images less an 8 px border.
    await region.fill('8, 8, 112, 112');
    await page.getByRole('button', { name: 'Start inspection' }).click();
    // The folder's own zero-shot model is written before its images are scored.
    const zeroShot = join(scratch, 'data', 'cache', 'zero-shot');
    // Its folder is written atomically: a dot-named temporary folder first, renamed when complete.
    const saved = () =>
      existsSync(zeroShot)
        ? readdirSync(zeroShot).filter((name) => existsSync(join(zeroShot, name, 'manifest.json')))
        : [];
    await poll(() => saved().filter((name) => !name.startsWith('.')).length, {
      timeout: 240_000,
    }).toBe(1);
    const folder = join(
      zeroShot,
      saved().find((name) => !name.startsWith('.'))!,
    );
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as {
      kind: string;
      inputSize: number;
      objectTypes: string[];
      roi: unknown;
    };
    expect(manifest).toMatchObject({
      kind: 'zero-shot',
      inputSize: 448,
      objectTypes: ['gasket'],
      roi: { x: 8, y: 8, width: 112, height: 112 },
    });
    const detector = JSON.parse(readFileSync(join(folder, 'detector.json'), 'utf8')) as {
      config: { features: { layers: string[] } };
    };
    expect(detector.config.features.layers).toEqual(['stride4', 'stride8']);
    await expect
      .poll(() => page.locator('[data-testid="job-progress"]').getAttribute('data-status'), {
        timeout: 240_000,
      })
      .toBe('done');
    await poll(() => page.locator('[data-testid="result-grid"] figure').count()).toBe(
      readdirSync(camera).length,
    );
    await shot('inspect-zero-shot');
    // The type has no model yet: its first retrain would keep the region, and the Models view says so.
    await nav('Models');
    await page.locator('select').first().selectOption('gasket');
    await page.getByTestId('roi-panel').locator('summary').click();
    await poll(() => page.getByTestId('roi-panel').locator('summary').textContent()).toMatch(
      /Region of interest: 8,8,112,112/,
    );
    expect(await page.getByTestId('roi-status').textContent()).toMatch(
      /^The region zero-shot inspection \d+ kept to; the type’s first retrain keeps it\.$/,
    );
    // Reviewed nothing yet, it has no dataset images: the region is drawn on an inspected one.
    await poll(() =>
      page.evaluate(`document.querySelector('[data-testid="roi-editor"] img')?.naturalWidth ?? 0`),
    ).toBe(128);
    await shot('models-zero-shot-region');
    // Inspected again before it has a model, the type is scored zero-shot within its region, at
    // the detail it was inspected at, whatever another new type was set to.
    await nav('Inspect');
    await page.locator('select[name="inspect-type"]').selectOption('__new__');
    await page.locator('select[name="inspect-detail"]').selectOption('standard');
    await page.locator('select[name="inspect-type"]').selectOption('gasket');
    expect(await page.locator('input[name="inspect-region"]').inputValue()).toBe('8,8,112,112');
    expect(await page.locator('select[name="inspect-detail"]').inputValue()).toBe('fine');
    // The region can be dragged on one of its inspected images, over the one it keeps now.
    await page.locator('button[name="draw-region"]').click();
    const drawer = page.getByTestId('inspect-region-panel');
    await poll(() => drawer.getByTestId('roi-rectangle').count()).toBe(1);
    const box = (await drawer.locator('img').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.25);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height * 0.75, { steps: 4 });
    await page.mouse.up();
    // From a quarter to three quarters of the 128 px image: 32,32,64,64 within a pixel or two.
    const drawn = (await page.locator('input[name="inspect-region"]').inputValue())
      .split(',')
      .map(Number);
    expect(drawn).toHaveLength(4);
    drawn.forEach((value, i) =>
      expect(Math.abs(value - [32, 32, 64, 64][i]!)).toBeLessThanOrEqual(2),
    );
    await shot('inspect-draw-region');
    await page.locator('select[name="inspect-type"]').selectOption('nut');
    expect(await page.locator('input[name="inspect-region"]').count()).toBe(0);
    // Its dataset is empty until a review: the Datasets view says how images come to it.
    await nav('Datasets');
    await page.getByRole('button', { name: 'gasket', exact: true }).click();
    await poll(() => page.getByTestId('image-grid-empty').textContent()).toMatch(
      /No images of gasket yet: its inspected images join it once reviewed/,
    );
    // The inspector looked at the OK ones: one click makes them the good images a retrain needs.
    await nav('Inspect');
    const confirm = page.locator('button[name="confirm-ok"]');
    const ok = Number(/Confirm (\d+) OK as good/.exec((await confirm.textContent())!)![1]);
    expect(ok).toBeGreaterThan(0);
    // It asks once more, since a defect confirmed good teaches the model to pass its like.
    await confirm.click();
    expect(await page.getByTestId('confirm-ok-ask').textContent()).toContain(
      `Looked at all ${ok}?`,
    );
    await shot('inspect-confirm-ok');
    await page.locator('button[name="confirm-ok-yes"]').click();
    await poll(() => page.getByTestId('result-grid').getByText('✓ good').count()).toBe(ok);
    expect(await confirm.count()).toBe(0);
    await nav('Datasets');
    await page.getByRole('button', { name: 'gasket', exact: true }).click();
    await poll(() => page.locator('[data-testid="image-grid"] img').count()).toBe(ok);
  }, 540_000);

  it('asks once for an image whose thumbnail and file are gone, not again and again', async () => {
    const good = join(samples, 'nut', 'train', 'good');
    // Not the first: the Models view showed that one whole to draw a region on.
    const gone = join(good, readdirSync(good).sort().at(-1)!);
    const sha = createHash('sha256').update(readFileSync(gone)).digest('hex');
    rmSync(join(scratch, 'data', 'cache', 'thumbnails', sha.slice(0, 2), `${sha}.webp`));
    rmSync(gone);
    const asked: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes(encodeURIComponent(gone))) asked.push(request.url());
    });
    // The browser keeps /files a minute: a thumbnail shown by an earlier test would still show.
    await (await page.context().newCDPSession(page)).send('Network.clearBrowserCache');
    await page.reload();
    await nav('Datasets');
    await page.getByRole('button', { name: 'nut', exact: true }).click();
    await poll(() => asked.length).toBe(1);
    // Each failed load used to set the source again, a request about every 200 ms.
    await page.waitForTimeout(3000);
    expect(asked).toHaveLength(1);
    // The tile says so, by the file's name.
    await poll(() =>
      page
        .getByTestId('image-grid')
        .getByText(`Image not available: ${basename(gone)}`)
        .count(),
    ).toBe(1);
  }, 60_000);

  it('shows the heatmap in place of an image moved away since it was scored, and says so', async () => {
    await nav('Review');
    const caption = page.getByTestId('review-image').locator('figcaption');
    await poll(() => caption.textContent()).toContain('Heatmap overlay');
    const path = /· (\/.+)$/.exec((await caption.textContent())!.trim())![1]!;
    rmSync(path);
    await page.keyboard.press('h'); // the original, as it is gone the heatmap stands in
    await poll(() => caption.textContent()).toContain(
      'Heatmap overlay (the original is not available)',
    );
    const image = page.getByTestId('review-image').locator('img');
    await poll(() =>
      image.evaluate((img) => (img as { naturalWidth: number }).naturalWidth),
    ).toBeGreaterThan(0);
    await page.keyboard.press('h');
    await poll(() => caption.textContent()).toMatch(/^\s*Heatmap overlay ·/);
  }, 60_000);
});
