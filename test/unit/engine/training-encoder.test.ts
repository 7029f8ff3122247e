// The encoder a training run starts from: the refusals the app's training task and
// `defectscope train` share, each before any network is built.
import { describe, expect, it } from 'vitest';
import { BadArgumentError } from '../../../src-main/shared/errors.js';
import { trainingEncoder } from '../../../src-main/engine/training-encoder.js';

describe('trainingEncoder', () => {
  const refused: [string, Parameters<typeof trainingEncoder>[0], number, RegExp][] = [
    [
      'the baseline with an encoder',
      { method: 'baseline', encoder: 'resnet' },
      64,
      /always VGG-16/,
    ],
    ['SimCLR from a model', { method: 'simclr', from: '/nowhere' }, 64, /for the classifier/],
    [
      'a starting model and an encoder',
      { method: 'classifier', from: '/nowhere', encoder: 'resnet' },
      64,
      /not both/,
    ],
    ['an imported encoder', { method: 'classifier', encoder: 'imported' }, 64, /not one to train/],
    ['an unknown kind', { method: 'classifier', encoder: 'alexnet' }, 64, /not one to train/],
    ['SimCLR on a frozen encoder', { method: 'simclr', encoder: 'mobilenetv3' }, 64, /is frozen/],
    ['a ResNet off the 32 px grid', { method: 'simclr' }, 100, /multiple of 32; got 100/],
  ];
  it.each(refused)('refuses %s', async (_what, request, size, message) => {
    const attempt = trainingEncoder(request, size, 1);
    await expect(attempt).rejects.toThrow(BadArgumentError);
    await expect(attempt).rejects.toThrow(message);
  });
});
