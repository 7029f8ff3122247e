// Imports a dataset folder into the store: every image is hashed, fully decoded once (making
// its thumbnail, which is also what proves it is not truncated) and recorded with its label and
// mask. Images stay where they are. Same content = same image, so re-imports add nothing.
import { join } from 'node:path';
import type { FileProblem, ImportSummary } from '../../shared/dto.js';
import { ImageError, errorMessage } from '../../shared/errors.js';
import type { Store } from '../../store/store.js';
import { hashFile, probeImage, writeThumbnail } from '../image-io.js';
import { scanDataset, type Layout, type ScanEntry } from './scan.js';

export interface ImportOptions {
  layout?: Layout;
  /** Object type name for a single-type folder (default: the folder's name). */
  objectType?: string;
  /** Who is recorded on the import labels. */
  who?: string;
  onProgress?: (done: number, total: number) => void;
  /** Images read at once; sharp decodes on its own thread pool. */
  concurrency?: number;
}

export function thumbnailPath(store: Store, sha256: string): string {
  return join(store.paths.thumbnails, sha256.slice(0, 2), `${sha256}.webp`);
}

function problemOf(path: string, error: unknown): FileProblem {
  if (error instanceof ImageError) return { path, problem: error.problem, message: error.message };
  return { path, problem: 'error', message: `${path}: ${errorMessage(error)}` };
}

export async function importDataset(
  store: Store,
  root: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const scan = scanDataset(root, options);
  const who = options.who ?? 'import';
  const summary: ImportSummary = {
    root,
    layout: scan.layout,
    objectTypes: [...new Set(scan.entries.map((e) => e.objectType))],
    seen: scan.entries.length + scan.skipped.length,
    added: 0,
    unchanged: 0,
    labelsAdded: 0,
    masksAdded: 0,
    failed: scan.skipped.map((path) => ({
      path,
      problem: 'not-an-image',
      message: `${path}: not an image file (expected .png, .jpg, .bmp, .tif or .webp); skipped.`,
    })),
  };
  const typeIds = new Map(
    summary.objectTypes.map((name) => [name, store.objectTypes.ensure(name)]),
  );

  const importOne = async (entry: ScanEntry): Promise<void> => {
    const objectTypeId = typeIds.get(entry.objectType)!;
    const sha256 = await hashFile(entry.path);
    let imageId: number;
    const existing = store.images.find(objectTypeId, sha256);
    if (existing) {
      if (existing.path !== entry.path) store.images.updatePath(existing.id, entry.path);
      imageId = existing.id;
      summary.unchanged++;
    } else {
      const info = await writeThumbnail(entry.path, thumbnailPath(store, sha256));
      imageId = store.images.insert({
        objectTypeId,
        path: entry.path,
        sha256,
        bytes: info.bytes,
        width: info.width,
        height: info.height,
        channels: info.channels,
        bitDepth: info.bitDepth,
        format: info.format,
        split: entry.split,
        defectKind: entry.defectKind,
      });
      summary.added++;
    }
    if (entry.label && store.images.label(imageId, entry.label, entry.defectKind, 'import', who))
      summary.labelsAdded++;
    if (entry.maskPath) {
      try {
        const mask = await probeImage(entry.maskPath);
        const image = await probeImage(entry.path);
        if (mask.width !== image.width || mask.height !== image.height) {
          throw new ImageError(
            entry.maskPath,
            'corrupt',
            `mask is ${mask.width}×${mask.height} but its image is ${image.width}×${image.height}; mask not recorded.`,
          );
        }
        if (store.images.setMask(imageId, entry.maskPath, await hashFile(entry.maskPath)))
          summary.masksAdded++;
      } catch (error) {
        summary.failed.push(problemOf(entry.maskPath, error));
      }
    }
  };

  // A small pool: each worker takes the next entry; one bad file never stops the others.
  let next = 0;
  let done = 0;
  const total = scan.entries.length;
  const worker = async () => {
    while (next < total) {
      const entry = scan.entries[next++]!;
      try {
        await importOne(entry);
      } catch (error) {
        summary.failed.push(problemOf(entry.path, error));
      }
      options.onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  summary.failed.sort((a, b) => a.path.localeCompare(b.path));
  return summary;
}
