import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { migrations } from '../../src-main/store/migrations/index.js';
import { tempDir, writeRgb } from '../fixtures/images.js';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    interactive: false,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('defectscope CLI', () => {
  it('lists its commands and prints --help for each', async () => {
    const list = await cli('--help');
    expect(list.code).toBe(0);
    for (const name of ['import', 'types', 'info']) {
      expect(list.out).toContain(name);
      const help = await cli(name, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^Usage: defectscope ${name}`));
    }
  });

  it('exits non-zero with a one-line reason on bad input', async () => {
    const dataDir = tempDir();
    const cases = [
      ['frobnicate'],
      ['import'],
      ['import', join(dataDir, 'nope'), '--data-dir', dataDir],
      ['import', dataDir, '--layout', 'zip', '--data-dir', dataDir],
      ['types', '--bogus'],
      ['info', '--backend', 'quantum', '--data-dir', dataDir],
      ['retrain', '--type', 'nut', '--false-alarms', '150%', '--data-dir', dataDir],
      ['retrain', '--type', 'nut', '--false-alarms', '0', '--data-dir', dataDir],
      ['retrain', '--type', 'nut', '--size', '100000', '--data-dir', dataDir],
      ['models', 'list', '--type', 'nut', '--data-dir', dataDir],
      ['inspect', dataDir, '--type', 'nut', '--size', '16', '--data-dir', dataDir],
    ];
    for (const argv of cases) {
      const result = await cli(...argv);
      expect(result.code, argv.join(' ')).not.toBe(0);
      expect(result.err.split('\n'), argv.join(' ')).toHaveLength(1);
      expect(result.err).toMatch(/^defectscope/);
    }
    const share = await cli(
      'retrain',
      '--type',
      'nut',
      '--false-alarms',
      '60%',
      '--data-dir',
      dataDir,
    );
    expect(share.err).toMatch(
      /--false-alarms takes a share of good parts above 0 and at most 50 %/,
    );
  });

  it('imports a folder and lists its type as JSON', async () => {
    const root = tempDir();
    const dataDir = tempDir();
    for (const [dir, n] of [
      ['good', 3],
      ['defect', 2],
    ] as const) {
      mkdirSync(join(root, 'widget', dir), { recursive: true });
      for (let i = 0; i < n; i++) {
        await sharp({
          create: {
            width: 16,
            height: 16,
            channels: 3,
            background: { r: 40 * i, g: dir.length * 20, b: 9 },
          },
        })
          .png()
          .toFile(join(root, 'widget', dir, `${i}.png`));
      }
    }
    const imported = await cli('import', join(root, 'widget'), '--data-dir', dataDir, '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.out)).toMatchObject({ layout: 'folders', added: 5 });
    const types = await cli('types', '--json', '--data-dir', dataDir);
    const [widget] = JSON.parse(types.out);
    expect(widget).toMatchObject({
      name: 'widget',
      images: 5,
      counts: { unsplit: { good: 3, defect: 2 } },
    });
  });

  it('reports the data folder, schema version and backend', async () => {
    const dataDir = tempDir();
    const info = await cli('info', '--json', '--data-dir', dataDir, '--backend', 'cpu');
    expect(info.code).toBe(0);
    const parsed = JSON.parse(info.out);
    expect(parsed.data).toMatchObject({ folder: dataDir, schemaVersion: migrations.length });
    expect(parsed.backend).toMatchObject({ name: 'cpu', tfName: 'cpu' });
  });

  it('names each unreadable file of an inspection and why, in the table and in --json', async () => {
    const folder = tempDir('defectscope-camera-');
    for (const [i, side] of [48, 56, 64].entries())
      await writeRgb(join(folder, `part-${i}.png`), side, side, 'png');
    const empty = join(folder, 'empty.png');
    const notAnImage = join(folder, 'notes.png');
    writeFileSync(empty, Buffer.alloc(0));
    writeFileSync(notAnImage, 'this is a text file, not a picture\n');
    // Files the camera finished a minute ago: scored (or reported) at once, not waited for.
    const earlier = new Date(Date.now() - 60_000);
    for (const name of readdirSync(folder)) utimesSync(join(folder, name), earlier, earlier);
    const inspect = ['inspect', folder, '--type', 'widget', '--size', '64', '--heatmaps', 'none'];

    const json = await cli(...inspect, '--json', '--data-dir', tempDir());
    expect(json.code, json.err).toBe(0);
    const parsed = JSON.parse(json.out);
    expect(parsed).toMatchObject({ scored: 3, failed: 2 });
    expect(parsed.unreadable).toHaveLength(2);
    expect(parsed.unreadable).toEqual(
      expect.arrayContaining([
        { path: empty, error: expect.stringMatching(/^empty: .*empty \(0 bytes\)/) },
        { path: notAnImage, error: expect.stringMatching(/^not-an-image: .*not an image/) },
      ]),
    );

    const text = await cli(...inspect, '--data-dir', tempDir());
    expect(text.code, text.err).toBe(0);
    const lines = text.out.split('\n');
    const listed = lines.slice(lines.indexOf('Unreadable:') + 1);
    expect(lines).toContain('Unreadable:');
    expect(listed.find((l) => l.includes(empty))).toMatch(/empty: the file is empty \(0 bytes\)/);
    expect(listed.find((l) => l.includes(notAnImage))).toMatch(/not-an-image: not an image/);

    // `score` lists the readable images (no heatmap column unless --heatmaps wrote some) and
    // names the others.
    const scored = await cli('score', folder, '--type', 'widget', '--data-dir', tempDir());
    expect(scored.code, scored.err).toBe(0);
    const rows = scored.out.split('\n');
    expect(rows[1]).toMatch(/^decision\s+score\s+image$/);
    expect(rows.filter((l) => /^(OK|UNSURE|DEFECT)\s/.test(l))).toHaveLength(3);
    expect(scored.out).toMatch(/, 2 unreadable$/m);
    expect(scored.err).toContain(empty);
  });
});
