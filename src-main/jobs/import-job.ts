// The main side of an import job: scan the folder, let the engine host read the files a chunk at
// a time, and record each chunk in the store as it comes back — so a crash or a cancel keeps
// every chunk already recorded, and importing again skips them.
import type { Emit } from '../shared/contract.js';
import type { ImportRequest, ImportSummary } from '../shared/dto.js';
import { CancelledError, DefectScopeError } from '../shared/errors.js';
import {
  IMPORT_CHUNK,
  finishSummary,
  recordProbed,
  startSummary,
} from '../data/importers/import.js';
import { scanDataset } from '../data/importers/scan.js';
import type { Store } from '../store/store.js';
import type { EngineClient } from './engine-client.js';
import type { JobControl } from './registry.js';

export async function runImportJob(
  deps: { store: Store; engine: EngineClient; emit: Emit },
  request: ImportRequest,
  job: JobControl,
): Promise<ImportSummary> {
  const { store, engine } = deps;
  const scan = scanDataset(request.root, {
    ...(request.layout ? { layout: request.layout } : {}),
    ...(request.objectType ? { objectType: request.objectType } : {}),
  });
  const summary = startSummary(request.root, scan);
  const total = scan.entries.length;
  job.log(
    `${total} images found in ${request.root} (${scan.layout} layout), object types: ${summary.objectTypes.join(', ') || 'none'}`,
  );
  for (const name of summary.objectTypes) store.objectTypes.ensure(name);
  job.progress(0, total);
  let recorded = 0;
  try {
    for (let start = 0; start < total; start += IMPORT_CHUNK) {
      if (job.signal.aborted) throw new CancelledError();
      const chunk = scan.entries.slice(start, start + IMPORT_CHUNK);
      const outcomes = await engine.run(
        'import-probe',
        { entries: chunk, thumbnailsDir: store.paths.thumbnails },
        { signal: job.signal, onProgress: (done) => job.progress(start + done, total) },
      );
      recordProbed(store, summary, outcomes, request.who);
      recorded += chunk.length;
    }
  } catch (error) {
    if (error instanceof DefectScopeError && error.code === 'cancelled') {
      throw new CancelledError(
        `Import stopped: ${recorded} of ${total} images recorded; importing the folder again adds the rest.`,
      );
    }
    throw error;
  } finally {
    if (recorded > 0) deps.emit('datasets/changed', { objectTypes: summary.objectTypes });
  }
  finishSummary(summary);
  job.log(
    `${summary.added} new images, ${summary.unchanged} already known, ${summary.labelsAdded} labels, ` +
      `${summary.masksAdded} masks, ${summary.failed.length} problems`,
  );
  for (const problem of summary.failed) job.log(`skipped ${problem.message}`);
  return summary;
}
