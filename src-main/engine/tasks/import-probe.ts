// The engine half of an import: read, hash and thumbnail the files; the owner records them.
import { probeEntries, type ProbeOutcome } from '../../data/importers/import.js';
import type { ImportProbeArgs, TaskContext } from './args.js';

export function probeForImport(args: ImportProbeArgs, ctx: TaskContext): Promise<ProbeOutcome[]> {
  return probeEntries(args.entries, args.thumbnailsDir, {
    signal: ctx.signal,
    onProgress: (done, total) => ctx.progress(done, total),
  });
}
