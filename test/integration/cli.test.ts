import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { migrations } from '../../src-main/store/migrations/index.js';
import { tempDir } from '../fixtures/images.js';

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
    ];
    for (const argv of cases) {
      const result = await cli(...argv);
      expect(result.code, argv.join(' ')).not.toBe(0);
      expect(result.err.split('\n'), argv.join(' ')).toHaveLength(1);
      expect(result.err).toMatch(/^defectscope/);
    }
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
});
