import { describe, expect, it } from 'vitest';
import { table } from '../../src-main/cli/common.js';

describe('the CLI text table', () => {
  it('left-aligns words and right-aligns columns of numbers', () => {
    const text = table(
      ['decision', 'score', 'image'],
      [
        ['DEFECT', '0.914', '/line/a.png'],
        ['UNREADABLE', '', '/line/long-name.png'],
        ['OK', '12.000', '/line/b.png'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'decision     score  image',
      'DEFECT       0.914  /line/a.png',
      'UNREADABLE          /line/long-name.png',
      'OK          12.000  /line/b.png',
    ]);
  });
});
