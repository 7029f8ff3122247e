// Imports a dataset folder into the store: every image is hashed, fully decoded once (making
// its thumbnail, which is also what proves it is not truncated) and recorded with its label and
// mask. Images stay where they are. Same content = same image, so re-imports add nothing.
// Two halves: probing reads the files (the engine host does this for the app, so decoding never
// blocks the UI) and recording writes the store (the main side, which owns the database).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FileProblem, ImportSummary } from '../../shared/dto.js';
import { CancelledError, ImageError, errorMessage } from '../../shared/errors.js';
import type { Store } from '../../store/store.js';
import { hashFile, probeImage, writeThumbnail, type ImageInfo } from '../image-io.js';
import { scanDataset, type Layout, type ScanEntry, type ScanResult } from './scan.js';

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

/** What reading one scanned file found out; recording it needs nothing else. */
export interface ProbedEntry {
  entry: ScanEntry;
  sha256: string;
  info: ImageInfo;
  /** The mask's hash, or why the mask was not recorded; null without a mask. */
  mask: { sha256: string } | { problem: FileProblem } | null;
}

/** A probed file, or why it could not be read. */
export type ProbeOutcome = { probed: ProbedEntry } | { problem: FileProblem };

/** Files probed, then recorded, per round: a crash loses at most one round of reading. */
export const IMPORT_CHUNK = 64;

export function thumbnailFile(thumbnailsDir: string, sha256: string): string {
  return join(thumbnailsDir, sha256.slice(0, 2), `${sha256}.webp`);
}

export function thumbnailPath(store: Store, sha256: string): string {
  return thumbnailFile(store.paths.thumbnails, sha256);
}

function problemOf(path: string, error: unknown): FileProblem {
  if (error instanceof ImageError) return { path, problem: error.problem, message: error.message };
  return { path, problem: 'error', message: `${path}: ${errorMessage(error)}` };
}

/**
 * Hashes one file and proves it decodes by making its thumbnail. Thumbnails are named by content,
 * so content thumbnailed before (a re-import, a moved file) only has its header read.
 */
export async function probeEntry(entry: ScanEntry, thumbnailsDir: string): Promise<ProbedEntry> {
  const sha256 = await hashFile(entry.path);
  const thumbnail = thumbnailFile(thumbnailsDir, sha256);
  const info = existsSync(thumbnail)
    ? await probeImage(entry.path)
    : await writeThumbnail(entry.path, thumbnail);
  let mask: ProbedEntry['mask'] = null;
  if (entry.maskPath) {
    try {
      const probed = await probeImage(entry.maskPath);
      if (probed.width !== info.width || probed.height !== info.height) {
        throw new ImageError(
          entry.maskPath,
          'corrupt',
          `mask is ${probed.width}×${probed.height} but its image is ${info.width}×${info.height}; mask not recorded.`,
        );
      }
      mask = { sha256: await hashFile(entry.maskPath) };
    } catch (error) {
      mask = { problem: problemOf(entry.maskPath, error) };
    }
  }
  return { entry, sha256, info, mask };
}

/** Probes files a few at a time; one bad file never stops the others. Results keep input order. */
export async function probeEntries(
  entries: ScanEntry[],
  thumbnailsDir: string,
  options: {
    concurrency?: number;
    onProgress?: (done: number, total: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<ProbeOutcome[]> {
  const outcomes = new Array<ProbeOutcome>(entries.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < entries.length && !options.signal?.aborted) {
      const index = next++;
      const entry = entries[index]!;
      try {
        outcomes[index] = { probed: await probeEntry(entry, thumbnailsDir) };
      } catch (error) {
        outcomes[index] = { problem: problemOf(entry.path, error) };
      }
      options.onProgress?.(++done, entries.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  if (options.signal?.aborted) throw new CancelledError(`Import stopped after ${done} files.`);
  return outcomes;
}

/** The summary of an import before anything is recorded: what the scan saw and skipped. */
export function startSummary(root: string, scan: ScanResult): ImportSummary {
  return {
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
}

/** Records probed files in one transaction and counts them into `summary`. */
export function recordProbed(
  store: Store,
  summary: ImportSummary,
  outcomes: ProbeOutcome[],
  who = 'import',
): void {
  const typeIds = new Map<string, number>();
  const typeId = (name: string) => {
    let id = typeIds.get(name);
    if (id === undefined) typeIds.set(name, (id = store.objectTypes.ensure(name)));
    return id;
  };
  store.images.transaction(() => {
    for (const outcome of outcomes) {
      if ('problem' in outcome) {
        summary.failed.push(outcome.problem);
        continue;
      }
      const { entry, sha256, info, mask } = outcome.probed;
      const objectTypeId = typeId(entry.objectType);
      let imageId: number;
      const existing = store.images.find(objectTypeId, sha256);
      if (existing) {
        if (existing.path !== entry.path) store.images.updatePath(existing.id, entry.path);
        imageId = existing.id;
        summary.unchanged++;
      } else {
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
      if (mask && 'problem' in mask) summary.failed.push(mask.problem);
      else if (mask && store.images.setMask(imageId, entry.maskPath!, mask.sha256))
        summary.masksAdded++;
    }
  });
}

export function finishSummary(summary: ImportSummary): ImportSummary {
  summary.failed.sort((a, b) => a.path.localeCompare(b.path));
  return summary;
}

/** Imports a folder in this process (the CLI's way; the app probes in the engine host). */
export async function importDataset(
  store: Store,
  root: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const scan = scanDataset(root, options);
  const summary = startSummary(root, scan);
  for (const name of summary.objectTypes) store.objectTypes.ensure(name);
  const total = scan.entries.length;
  for (let start = 0; start < total; start += IMPORT_CHUNK) {
    const chunk = scan.entries.slice(start, start + IMPORT_CHUNK);
    const outcomes = await probeEntries(chunk, store.paths.thumbnails, {
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      onProgress: (done) => options.onProgress?.(start + done, total),
    });
    recordProbed(store, summary, outcomes, options.who);
  }
  return finishSummary(summary);
}
