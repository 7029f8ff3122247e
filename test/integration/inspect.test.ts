import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServices, type AppServices } from '../../src-main/api/services.js';
import { runCli } from '../../src-main/cli/main.js';
import { resumeInterruptedInspections } from '../../src-main/api/handlers/inspection.js';
import {
  DETAIL_LEVELS,
  type InspectSummary,
  type InspectionResultDto,
} from '../../src-main/shared/dto.js';
import { zeroShotFolder } from '../../src-main/inspection/inspect.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { gradient, tempDir } from '../fixtures/images.js';
import type { NewResult } from '../../src-main/store/repos/results.repo.js';
import type { Store } from '../../src-main/store/store.js';

/** A camera folder: the test split of a generated type, flattened (`copies` times over). */
function cameraFolder(root: string, type: string, copies = 1): string[] {
  const folder = join(tempDir('defectscope-camera-'), type);
  mkdirSync(folder, { recursive: true });
  const copied: string[] = [];
  const test = join(root, type, 'test');
  for (const kind of readdirSync(test)) {
    for (const name of readdirSync(join(test, kind))) {
      for (let copy = 0; copy < copies; copy++) {
        const target = join(folder, `${kind}-${copy}-${name}`);
        copyFileSync(join(test, kind, name), target);
        copied.push(target);
      }
    }
  }
  return copied;
}

/** A type and an active one-class model row of it (no model folder), for results written directly. */
function activeModel(store: Store, type: string): { typeId: number; modelId: number } {
  const typeId = store.objectTypes.ensure(type);
  const modelId = store.models.insert({
    kind: 'one-class',
    name: `${type} one-class`,
    objectTypes: [type],
    config: {},
    status: 'active',
  });
  return { typeId, modelId };
}

/** A result row a model decided, written directly (no image record, no heatmap). */
function decided(
  inspectionId: number,
  modelId: number,
  path: string,
  decision: 'DEFECT' | 'OK',
): NewResult {
  return {
    inspectionId,
    path,
    imageId: null,
    sha256: null,
    modelId,
    rawScore: decision === 'DEFECT' ? 2 : 0.5,
    score: decision === 'DEFECT' ? 0.9 : 0.2,
    decision,
    heatmapPath: null,
    error: null,
  };
}

/** Writes a PNG in pieces, as a slow camera would; the first piece lands before it returns. */
function writeSlowly(path: string, bytes: Buffer, pieces: number, pauseMs: number): Promise<void> {
  const step = Math.ceil(bytes.length / pieces);
  writeFileSync(path, bytes.subarray(0, step));
  return appendSlowly(path, bytes, step, pauseMs);
}

async function appendSlowly(path: string, bytes: Buffer, step: number, pauseMs: number) {
  await new Promise((r) => setTimeout(r, pauseMs));
  const file = await open(path, 'a');
  try {
    for (let at = step; at < bytes.length; at += step) {
      await file.write(bytes.subarray(at, at + step));
      await file.sync();
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  } finally {
    await file.close();
  }
}

describe('inspecting a camera folder', () => {
  let root: string;
  let services: AppServices;
  beforeAll(async () => {
    root = tempDir();
    await generateDataset(root, { seed: 3, perType: 12, size: 128, types: ['wood', 'pill'] });
    services = openServices({ dataDir: tempDir() });
  });
  afterAll(() => services.close());

  it('scores every good image of a never-seen type and reports every bad file without stopping', async () => {
    const images = cameraFolder(root, 'wood');
    const folder = join(images[0]!, '..');
    writeFileSync(join(folder, 'zero.png'), Buffer.alloc(0));
    writeFileSync(join(folder, 'notes.png'), 'this is a text file, not a picture\n');
    const png = await sharp(gradient(64, 64), { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toBuffer();
    writeFileSync(join(folder, 'truncated.png'), png.subarray(0, png.length >> 1));
    writeFileSync(join(folder, 'readme.txt'), 'not an image by its name: ignored');
    // A folder put together from links: a link to an image is an image, a broken one is gone.
    const linked = join(folder, 'linked.png');
    symlinkSync(images[0]!, linked);
    symlinkSync(join(folder, 'deleted.png'), join(folder, 'dangling.png'));
    const slow = join(folder, 'slow.png');
    const writing = writeSlowly(
      slow,
      await sharp(gradient(96, 96), { raw: { width: 96, height: 96, channels: 3 } })
        .png()
        .toBuffer(),
      5,
      300,
    );

    const events: InspectionResultDto[] = [];
    const off = services.ctx.events.on('inspect/result', (r) => events.push(r));
    // A wide unsure band from the settings: more images go to review instead of being decided.
    await services.router.invoke('settings/set', { unsureBand: 0.2 });
    const { jobId } = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'wood',
      inputSize: 128,
      heatmaps: 'all',
    });
    const job = await services.ctx.jobs.settled(jobId);
    await writing;
    off();
    expect(job.status).toBe('done');
    const summary = job.result as InspectSummary;

    const results = await services.router.invoke('inspect/results', {
      inspectionId: summary.inspectionId,
      limit: 1000,
    });
    const byName = new Map(results.items.map((r) => [r.path.split('/').pop()!, r]));
    // Every image, the slowly written one too, has a score; every bad file has its reason.
    for (const path of [...images, slow, linked]) {
      const result = byName.get(path.split('/').pop()!)!;
      expect(result.error).toBeNull();
      expect(result.score).toBeGreaterThanOrEqual(0);
      expect(result.decision).toBe(
        result.score! >= 0.7 ? 'DEFECT' : result.score! < 0.3 ? 'OK' : 'UNSURE',
      );
    }
    expect(services.ctx.store.inspections.get(summary.inspectionId)!.unsureBand).toBe(0.2);
    expect(byName.get('zero.png')!.error).toMatch(/^empty/);
    expect(byName.get('notes.png')!.error).toMatch(/^not-an-image/);
    expect(byName.get('truncated.png')!.error).toMatch(/^corrupt/);
    expect(byName.get('dangling.png')!.error).toMatch(/^missing: .*the file is gone/);
    expect(byName.has('readme.txt')).toBe(false);
    expect(summary).toMatchObject({
      scored: images.length + 2,
      failed: 4,
      modelKind: 'zero-shot',
      modelId: null,
      roi: null,
    });
    expect(events.map((e) => e.id).sort()).toEqual(results.items.map((r) => r.id).sort());
    // The folder's zero-shot model: the standard detail's stride 8 + 16 features.
    const saved = JSON.parse(
      readFileSync(
        join(zeroShotFolder(services.ctx.store, summary.inspectionId), 'detector.json'),
        'utf8',
      ),
    ) as { config: { features: { layers: string[] } } };
    expect(saved.config.features.layers).toEqual(DETAIL_LEVELS.standard.zeroShot.layers);
    // Results sort worst first; each scored one carries a heatmap in the inspection's cache folder.
    const scored = results.items.filter((r) => r.score !== null);
    const scores = scored.map((r) => r.score!);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const r of scored) {
      expect(r.heatmapPath).toContain(join('cache', 'heatmaps', String(summary.inspectionId)));
      expect(existsSync(r.heatmapPath!)).toBe(true);
    }
  });

  it('stores a verdict with who, when and note, and labels the never-imported image for retraining', async () => {
    const [first] = await services.router.invoke('review/queue', { objectType: 'wood', limit: 5 });
    expect(first).toBeDefined();
    const review = await services.router.invoke('review/verdict', {
      resultId: first!.id,
      verdict: 'good',
      who: 'ana',
      note: 'glare, not a scratch',
    });
    expect(review).toMatchObject({ resultId: first!.id, verdict: 'good', who: 'ana' });
    const after = (
      await services.router.invoke('inspect/results', {
        inspectionId: first!.inspectionId,
        limit: 1000,
      })
    ).items.find((r) => r.id === first!.id)!;
    // The result keeps its decision (audit trail); the image now exists with a review label.
    expect(after.decision).toBe(first!.decision);
    expect(after.review).toMatchObject({
      verdict: 'good',
      who: 'ana',
      note: 'glare, not a scratch',
    });
    expect(after.imageId).not.toBeNull();
    const images = await services.router.invoke('datasets/images', { objectTypes: ['wood'] });
    expect(images.items).toEqual([
      expect.objectContaining({ id: after.imageId, label: 'good', split: 'unsplit' }),
    ]);
    const queue = await services.router.invoke('review/queue', { objectType: 'wood' });
    expect(queue.map((r) => r.id)).not.toContain(first!.id);
    // Most uncertain first.
    const distances = queue.map((r) => Math.abs(r.score! - 0.5));
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
  });

  it('lists the queue, records a verdict and writes HTML and CSV reports from the command line', async () => {
    const dataDir = services.ctx.store.paths.root;
    const out: string[] = [];
    const cli = { out: (line: string) => out.push(line), err: () => undefined, interactive: false };
    const [inspection] = services.ctx.store.inspections.list(1);
    // A result already linked to an image (reviewed above), so no engine host is needed.
    const reviewed = (
      await services.router.invoke('inspect/results', { inspectionId: inspection!.id, limit: 1000 })
    ).items.find((r) => r.review)!;
    expect(
      await runCli(
        [
          'review',
          'verdict',
          String(reviewed.id),
          'defect',
          '--by',
          'bo',
          '--note',
          'second look',
          '--data-dir',
          dataDir,
        ],
        cli,
      ),
    ).toBe(0);
    expect(services.ctx.store.reviews.history(reviewed.id).map((r) => [r.verdict, r.who])).toEqual([
      ['good', 'ana'],
      ['defect', 'bo'],
    ]);
    out.length = 0;
    expect(
      await runCli(['review', 'list', '--status', 'all', '--json', '--data-dir', dataDir], cli),
    ).toBe(0);
    const listed = JSON.parse(out.join('\n')) as InspectionResultDto[];
    expect(listed.map((r) => r.id)).not.toContain(reviewed.id);

    const html = join(tempDir(), 'report.html');
    const csv = join(tempDir(), 'report.csv');
    expect(
      await runCli(
        ['report', String(inspection!.id), '--html', html, '--csv', csv, '--data-dir', dataDir],
        cli,
      ),
    ).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain('threshold 0.5');
    expect(page).toContain('zero-shot');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    const summary = services.ctx.store.results.counts(inspection!.id);
    expect(lines).toHaveLength(summary.files + 1);
    expect(lines.some((l) => l.includes('second look'))).toBe(true);
  });

  it('retrains a never-imported type from reviewed verdicts alone, through the engine host', async () => {
    const [inspection] = services.ctx.store.inspections.list(1);
    const results = (
      await services.router.invoke('inspect/results', {
        inspectionId: inspection!.id,
        order: 'newest-first',
        limit: 1000,
      })
    ).items.filter((r) => r.score !== null && !r.review);
    for (const [i, r] of results.slice(0, 12).entries())
      await services.router.invoke('review/verdict', {
        resultId: r.id,
        verdict: i < 10 ? 'good' : 'defect',
      });
    const changed: string[][] = [];
    const off = services.ctx.events.on('models/changed', (e) => changed.push(e.objectTypes));
    const { jobId } = await services.router.invoke('retrain/start', {
      objectType: 'wood',
      inputSize: 128,
    });
    const job = await services.ctx.jobs.settled(jobId);
    off();
    expect(job.status).toBe('done');
    // 10 good verdicts (2 held out for validation), 2 defect verdicts plus the one given above.
    expect(job.result).toMatchObject({
      activated: true,
      metrics: { defects: 'labels', goodImages: 2, defectImages: 3 },
    });
    // The finished job says what came of it, not the last phase it was in.
    expect(job.progress).toMatchObject({
      done: 1,
      total: 1,
      message: `model ${(job.result as { modelId: number }).modelId} active`,
    });
    const models = await services.router.invoke('models/list', { objectType: 'wood' });
    expect(models).toEqual([expect.objectContaining({ kind: 'one-class', status: 'active' })]);
    expect(changed).toEqual([['wood']]);
  });

  it('keeps scoring files the camera writes into a watched folder until cancelled', async () => {
    const source = cameraFolder(root, 'wood');
    const folder = tempDir('defectscope-watch-');
    // wood now has the model retrained from verdicts above; the watch scores with it.
    for (const path of source.slice(0, 9)) copyFileSync(path, join(folder, path.split('/').pop()!));
    const results: InspectionResultDto[] = [];
    const off = services.ctx.events.on('inspect/result', (r) => results.push(r));
    const { jobId } = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'wood',
      inputSize: 128,
      watch: true,
    });
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && results.length < n; i++)
        await new Promise((r) => setTimeout(r, 100));
    };
    await waitFor(9);
    expect(results).toHaveLength(9);
    // The camera adds a file slowly, a broken one, and one that vanishes at once.
    const png = readFileSync(source[9]!);
    const slow = writeSlowly(join(folder, 'late.png'), png, 4, 250);
    writeFileSync(join(folder, 'broken.png'), png.subarray(0, 100));
    await slow;
    await waitFor(11);
    services.ctx.jobs.cancel(jobId);
    const job = await services.ctx.jobs.settled(jobId);
    off();
    expect(job.status).toBe('done');
    const byName = new Map(results.map((r) => [r.path.split('/').pop()!, r]));
    expect(byName.get('late.png')).toMatchObject({ error: null });
    expect(byName.get('late.png')!.score).not.toBeNull();
    expect(byName.get('broken.png')!.error).toMatch(/^corrupt/);
    expect(job.result).toMatchObject({ scored: 10, failed: 1 });
  });

  it('resumes an inspection the app was closed during, under the same job, when the app starts again', async () => {
    const images = cameraFolder(root, 'pill', 4);
    const folder = join(images[0]!, '..');
    const dataDir = tempDir();
    const first = openServices({ dataDir });
    const { jobId } = await first.router.invoke('inspect/start', {
      folder,
      objectType: 'pill',
      inputSize: 128,
    });
    await new Promise<void>((resolveFirst) => {
      const off = first.ctx.events.on('inspect/result', () => {
        off();
        resolveFirst();
      });
    });
    const inspectionId = first.ctx.store.inspections.forJob(jobId)!.id;
    await first.close(); // records the job interrupted, as a closing app does

    const second = openServices({ dataDir });
    try {
      const before = second.ctx.store.results.counts(inspectionId);
      expect(before.files).toBeLessThan(images.length);
      expect(second.ctx.jobs.get(jobId)!.status).toBe('interrupted');
      expect(resumeInterruptedInspections(second.ctx)).toEqual([jobId]);
      const job = await second.ctx.jobs.settled(jobId);
      expect(job.status).toBe('done');
      expect(job.result).toMatchObject({ scored: images.length });
      expect(job.progress.total).toBe(images.length - before.files);
    } finally {
      await second.close();
    }
  });

  it('fails cleanly when the engine host is killed mid-inspection, and the resumed inspection scores each image once', async () => {
    // Several batches of files, so the host dies with work left.
    const images = cameraFolder(root, 'pill', 4);
    const folder = join(images[0]!, '..');
    const seen = new Map<string, number>();
    const off = services.ctx.events.on('inspect/result', (r) =>
      seen.set(r.path, (seen.get(r.path) ?? 0) + 1),
    );
    const { jobId } = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'pill',
      inputSize: 128,
    });
    // Kill the host as soon as the first batch is recorded.
    let killedPid: number | null = null;
    const offKill = services.ctx.events.on('inspect/result', () => {
      if (killedPid !== null) return;
      killedPid = services.ctx.engine.pid;
      process.kill(killedPid!, 'SIGKILL');
    });
    const failed = await services.ctx.jobs.settled(jobId);
    offKill();
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'engine' });
    expect(failed.error!.message).toMatch(/killed \(SIGKILL\)/);
    const firstRun = seen.size;
    expect(firstRun).toBeGreaterThan(0);
    expect(firstRun).toBeLessThan(images.length);

    const inspectionId = services.ctx.store.inspections.forJob(jobId)!.id;
    const resumed = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'pill',
      inspectionId,
      inputSize: 128,
    });
    const done = await services.ctx.jobs.settled(resumed.jobId);
    off();
    expect(done.status).toBe('done');
    expect(services.ctx.engine.pid).not.toBe(killedPid);
    expect(done.progress.total).toBe(images.length - firstRun);
    expect(seen.size).toBe(images.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(done.result).toMatchObject({ inspectionId, scored: images.length, failed: 0 });
  });

  it('says why a folder with no images of its own cannot be inspected, and where its images are', async () => {
    const inspections = services.ctx.store.inspections.list(1000).length;
    // A dataset's test folder: its images sit in crack/ and good/, not in it.
    const dataset = join(tempDir('defectscope-dataset-'), 'test');
    const wood = join(root, 'wood', 'test');
    for (const kind of readdirSync(wood)) {
      mkdirSync(join(dataset, kind), { recursive: true });
      for (const name of readdirSync(join(wood, kind)).slice(0, 2))
        copyFileSync(join(wood, kind, name), join(dataset, kind, name));
    }
    mkdirSync(join(dataset, 'notes'));
    writeFileSync(join(dataset, 'readme.txt'), 'not an image');
    // A subfolder may be a link to one elsewhere; a link to a file is no subfolder.
    symlinkSync(join(wood, 'good'), join(dataset, 'linked'));
    symlinkSync(join(dataset, 'readme.txt'), join(dataset, 'readme-link'));
    const start = (folder: string) =>
      services.router.invoke('inspect/start', { folder, objectType: 'wood' });
    const held = [...readdirSync(wood), 'linked']
      .sort()
      .map((kind) => `${kind} (${readdirSync(join(dataset, kind)).length})`);
    await expect(start(dataset)).rejects.toThrow(`its subfolders hold some: ${held.join(', ')}.`);
    await expect(start(join(dataset, 'notes'))).rejects.toThrow(
      /^No images in .*notes \(looked for/,
    );
    // Nothing was started or recorded; watching the empty folder waits for a camera instead.
    expect(services.ctx.store.inspections.list(1000)).toHaveLength(inspections);
    const { jobId } = await services.router.invoke('inspect/start', {
      folder: join(dataset, 'notes'),
      objectType: 'wood',
      watch: true,
    });
    await services.router.invoke('jobs/cancel', { jobId });
    expect((await services.ctx.jobs.settled(jobId)).status).not.toBe('failed');
  });

  it("confirms an inspection's OK results good in one go, and says which file it could not record", async () => {
    const { store } = services.ctx;
    const { typeId, modelId } = activeModel(store, 'bracket');
    const inspectionId = store.inspections.create({
      folder: '/camera/bracket',
      objectTypeId: typeId,
      jobId: null,
      watch: false,
    });
    const files = cameraFolder(root, 'pill').slice(0, 5);
    const gone = join(tempDir(), 'gone.png');
    const decisions = ['OK', 'OK', 'OK', 'OK', 'DEFECT', 'OK'] as const;
    const ids = store.results.insertMany(
      decisions.map((decision, i) =>
        decided(inspectionId, modelId, i === 5 ? gone : files[i]!, decision),
      ),
    );
    // One OK result already has a verdict: the inspector's own word stays.
    store.reviews.add({ resultId: ids[3]!, verdict: 'defect', who: 'bo', note: null });
    const changed: (string[] | null)[] = [];
    const off = services.ctx.events.on('datasets/changed', (e) => changed.push(e.objectTypes));
    const summary = await services.router.invoke('review/confirm-ok', { inspectionId, who: 'ana' });
    off();
    expect(summary).toEqual({
      confirmed: 3,
      skipped: [
        expect.objectContaining({ path: gone, message: expect.stringContaining('gone.png') }),
      ],
    });
    // One event for the batch, not one per image.
    expect(changed).toEqual([['bracket']]);
    const results = (await services.router.invoke('inspect/results', { inspectionId, limit: 100 }))
      .items;
    const verdicts = new Map(
      results.map((r) => [r.id, r.review && [r.review.verdict, r.review.who]]),
    );
    expect(ids.map((id) => verdicts.get(id!))).toEqual([
      ['good', 'ana'],
      ['good', 'ana'],
      ['good', 'ana'],
      ['defect', 'bo'],
      null,
      null,
    ]);
    const images = await services.router.invoke('datasets/images', { objectTypes: ['bracket'] });
    expect(images.items.map((i) => [i.path, i.label]).sort()).toEqual(
      files
        .slice(0, 3)
        .map((path) => [path, 'good'])
        .sort(),
    );
    // Again, from the command line: nothing new to confirm; the gone file is still said.
    const out: string[] = [];
    const err: string[] = [];
    const cli = {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
      interactive: false,
    };
    const args = ['review', 'confirm-ok', String(inspectionId), '--data-dir', store.paths.root];
    expect(await runCli(args, cli)).toBe(0);
    expect(out).toEqual([`Inspection ${inspectionId}: 0 OK result(s) confirmed good.`]);
    expect(err).toEqual([expect.stringMatching(/^Not recorded: .*gone\.png: the file is gone/)]);
    await expect(
      services.router.invoke('review/confirm-ok', { inspectionId: 99_999 }),
    ).rejects.toThrow('No inspection 99999.');
  });

  it('questions, in the report, a batch the model flagged nearly all of', async () => {
    const { store } = services.ctx;
    const { typeId, modelId } = activeModel(store, 'valve');
    const report = async (decisions: ('DEFECT' | 'OK')[]) => {
      const inspectionId = store.inspections.create({
        folder: '/camera/valve',
        objectTypeId: typeId,
        jobId: null,
        watch: false,
      });
      store.inspections.setModel(inspectionId, {
        modelId,
        modelPath: null,
        threshold: 1,
        unsureBand: 0.05,
      });
      store.results.insertMany(
        decisions.map((decision, i) =>
          decided(inspectionId, modelId, `/camera/valve/${inspectionId}-${i}.png`, decision),
        ),
      );
      const html = join(tempDir(), 'report.html');
      const cli = { out: () => undefined, err: () => undefined, interactive: false };
      const args = ['report', String(inspectionId), '--html', html];
      expect(await runCli([...args, '--data-dir', store.paths.root], cli)).toBe(0);
      return readFileSync(html, 'utf8');
    };
    // 12 of 12 flagged: another type, or a camera moved; 8 of 12 is a bad lot, not a question.
    expect(await report(Array(12).fill('DEFECT'))).toContain(
      'The model flagged 12 of 12 images as defects. A whole batch of defects is rare: check that these are valve parts',
    );
    const mixed = await report([...Array(8).fill('DEFECT'), ...Array(4).fill('OK')]);
    expect(mixed).not.toContain('A whole batch of defects is rare');
  });

  it("gives every labeled image a model scored, with the inspector's verdict over the image's label", async () => {
    const { store } = services.ctx;
    const { typeId, modelId } = activeModel(store, 'gasket');
    const other = store.models.insert({ ...store.models.get(modelId)!, status: 'ready' });
    const inspectionId = store.inspections.create({
      folder: '/camera/gasket',
      objectTypeId: typeId,
      jobId: null,
      watch: false,
    });
    // More results than a page of the grid (1,000): a curve must see every one of them.
    const image = (i: number, label: 'good' | 'defect' | null) => {
      const id = store.images.insert({
        objectTypeId: typeId,
        path: `/camera/gasket/${i}.png`,
        sha256: `sha-${i}`,
        bytes: 1,
        width: 8,
        height: 8,
        channels: 3,
        bitDepth: 8,
        format: 'png',
        split: 'unsplit',
        defectKind: null,
      });
      if (label) store.images.label(id, label, null, 'import', 'import');
      return id;
    };
    const rows = Array.from({ length: 1200 }, (_, i) => ({
      inspectionId,
      path: `/camera/gasket/${i}.png`,
      // Every third image labeled defect, the rest good; every seventh never imported (no label).
      imageId: i % 7 === 6 ? null : image(i, i % 3 === 0 ? 'defect' : 'good'),
      sha256: null,
      modelId: i === 5 ? other : modelId,
      rawScore: i,
      score: i / 1200,
      decision: 'OK' as const,
      heatmapPath: null,
      error: null,
    }));
    const ids = store.results.insertMany(rows);
    // A verdict outranks the image's label, the latest verdict outranks earlier ones, and a
    // verdict gives a never-imported image its truth.
    store.reviews.add({ resultId: ids[3]!, verdict: 'defect', who: 'bo', note: null });
    store.reviews.add({ resultId: ids[3]!, verdict: 'good', who: 'bo', note: null });
    store.reviews.add({ resultId: ids[6]!, verdict: 'defect', who: 'bo', note: null });
    const expected = rows
      .map((row, i) => ({
        score: row.score,
        truth: i === 3 ? 0 : i === 6 ? 1 : row.imageId === null ? null : i % 3 === 0 ? 1 : 0,
      }))
      .filter((r, i) => r.truth !== null && rows[i]!.modelId === modelId);
    const scored = await services.router.invoke('models/scored', { modelId });
    expect(scored.scores).toEqual(expected.map((r) => r.score));
    expect(scored.labels).toEqual(expected.map((r) => r.truth));
    expect(scored.scores.length).toBeGreaterThan(1000);
    await expect(services.router.invoke('models/scored', { modelId: 99_999 })).rejects.toThrow(
      'No model 99999.',
    );
  });
});
