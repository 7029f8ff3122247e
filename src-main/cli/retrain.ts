// `defectscope retrain --type NAME`: one-click retrain of an object type's model.
import type { Command } from './command.js';
import {
  dataDirHelp,
  dataDirOption,
  intOption,
  jsonHelp,
  jsonOption,
  openStoreFor,
  stringOption,
} from './common.js';
import { initBackend } from '../engine/backend.js';
import { MIN_GOOD_IMAGES, retrainObjectType } from '../inspection/retrain.js';
import { BadArgumentError } from '../shared/errors.js';

export const command: Command = {
  name: 'retrain',
  summary: "rebuild an object type's model from its good images and reviewed labels",
  help: [
    'Usage: defectscope retrain --type NAME [--size PX] [--json]',
    '',
    `Fits a one-class model on the type's good images (at least ${MIN_GOOD_IMAGES}), validates it on held-out`,
    'good images and the defect labels (or synthetic defects when there are none yet), and makes',
    'it active only if it is at least as good as the active model. Older models stay for rollback',
    '(defectscope models).',
    '',
    'Options:',
    '  --type NAME      object type to retrain',
    '  --size PX        input side (default 224)',
    '  --backend NAME   gpu, node, wasm or cpu',
    dataDirHelp,
    jsonHelp,
  ].join('\n'),
  options: {
    ...dataDirOption,
    ...jsonOption,
    type: { type: 'string' },
    size: { type: 'string' },
    backend: { type: 'string' },
  },
  async run(args, ctx) {
    const objectType = stringOption(args, 'type');
    if (!objectType) throw new BadArgumentError('--type NAME is required.');
    const inputSize = intOption(args, 'size', 224, 32);
    const store = openStoreFor(args);
    try {
      await initBackend(stringOption(args, 'backend'));
      const result = await retrainObjectType(store, {
        objectType,
        inputSize,
        onProgress: (message, done, total) =>
          ctx.err(done !== undefined && total ? `${message} ${done}/${total}` : message),
      });
      if (args.values.json) {
        ctx.out(JSON.stringify(result, null, 2));
        return 0;
      }
      const m = result.metrics;
      ctx.out(
        `Model ${result.modelId} for ${objectType}: ${result.activated ? 'ACTIVE' : 'kept as a candidate'} — ${result.reason}.\n` +
          `Validation (${m.goodImages} good, ${m.defectImages} ${m.defects === 'labels' ? 'labeled' : 'synthetic'} defects): ` +
          `AUROC ${m.imageAuroc.toFixed(3)}, F1 ${m.f1.toFixed(3)} at the threshold, false alarms ${(100 * m.falseAlarmRate).toFixed(1)} %.`,
      );
      return 0;
    } finally {
      store.close();
    }
  },
};
