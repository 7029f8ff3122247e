// Finds the images of a dataset folder and what each one is (object type, split, label, defect
// kind, mask) for the three layouts we import: MVTec AD, labeled folders, and unlabeled folders.
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { basename, dirname, extname, join, parse, resolve } from 'node:path';
import type { Label, Split } from '../../shared/dto.js';
import { BadArgumentError, NotFoundError } from '../../shared/errors.js';
import { IMAGE_EXTENSIONS } from '../image-io.js';

export type Layout = 'mvtec' | 'folders' | 'unlabeled';

export interface ScanEntry {
  path: string;
  objectType: string;
  split: Split;
  label: Label | null;
  defectKind: string | null;
  maskPath: string | null;
}

export interface ScanResult {
  layout: Layout;
  entries: ScanEntry[];
  /** Files in image folders that are not images by their name (reported, not imported). */
  skipped: string[];
}

const GOOD_NAMES = new Set(['good', 'ok', 'pass']);
const DEFECT_NAMES = new Set(['defect', 'defects', 'bad', 'ng', 'fail']);

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => !d.name.startsWith('.') && d.name !== 'Thumbs.db')
      .sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return [];
  }
}

const subdirs = (dir: string) =>
  list(dir)
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
const isImageName = (name: string) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/** Image files directly in `dir` (non-images go to `skipped`). */
function imagesIn(dir: string, skipped: string[], recursive = false): string[] {
  const found: string[] = [];
  for (const entry of list(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive) found.push(...imagesIn(path, skipped, true));
    } else if (isImageName(entry.name)) {
      found.push(path);
    } else {
      skipped.push(path);
    }
  }
  return found;
}

const isMvtecType = (dir: string) =>
  subdirs(dir).some((name) => name === 'train' || name === 'test');

/** A folder's label by its name: good/, ok/, pass/ → good; defect/, bad/, ng/, fail/ → defect. */
function labelOfName(name: string): Label | null {
  const lower = name.toLowerCase();
  if (GOOD_NAMES.has(lower)) return 'good';
  if (DEFECT_NAMES.has(lower)) return 'defect';
  return null;
}

/** The folder holds a good/ (ok/, pass/) folder: the labeled-folders layout's root. */
const holdsGood = (root: string) => subdirs(root).some((n) => labelOfName(n) === 'good');

/**
 * The import root is itself a labeled folder (…/commutator/good) rather than the folder that
 * holds good/ and defect/: an inspector pointing import at the good parts they collected.
 */
const isLabeledFolder = (root: string) => labelOfName(basename(root)) !== null && !holdsGood(root);

export function detectLayout(folder: string): Layout {
  // Resolved: a labeled folder is known by its name, which `.` does not show.
  const root = resolve(folder);
  if (isMvtecType(root) || subdirs(root).some((name) => isMvtecType(join(root, name))))
    return 'mvtec';
  // Either the folder holding good/ (and defect/ …), or a labeled folder itself (isLabeledFolder).
  if (holdsGood(root) || labelOfName(basename(root))) return 'folders';
  return 'unlabeled';
}

/** `<type>/train/good`, `<type>/test/good|<kind>`, `<type>/ground_truth/<kind>/<stem>_mask.png`. */
function scanMvtecType(dir: string, objectType: string, skipped: string[]): ScanEntry[] {
  const entries: ScanEntry[] = [];
  for (const split of ['train', 'test'] as const) {
    for (const kind of subdirs(join(dir, split))) {
      const good = kind === 'good';
      const masks = good ? new Map<string, string>() : maskIndex(join(dir, 'ground_truth', kind));
      for (const path of imagesIn(join(dir, split, kind), skipped)) {
        entries.push({
          path,
          objectType,
          split,
          label: good ? 'good' : 'defect',
          defectKind: good ? null : kind,
          maskPath: masks.get(parse(path).name) ?? null,
        });
      }
    }
  }
  return entries;
}

/** Maps an image's file stem to its mask (`000_mask.png` or `000.png`). */
function maskIndex(dir: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const entry of list(dir)) {
    if (!entry.isFile() || !isImageName(entry.name)) continue;
    index.set(parse(entry.name).name.replace(/_mask$/, ''), join(dir, entry.name));
  }
  return index;
}

export function scanDataset(
  folder: string,
  options: { layout?: Layout; objectType?: string } = {},
): ScanResult {
  // Every image is recorded by its absolute path (a path relative to where `import` ran would
  // not be found from anywhere else), and the folder's own name is what `.` stands for.
  const root = resolve(folder);
  let stats;
  try {
    stats = statSync(root);
  } catch {
    throw new NotFoundError(`Folder not found: ${root}`);
  }
  if (!stats.isDirectory())
    throw new BadArgumentError(`${root} is not a folder; point import at a dataset folder.`);
  const layout = options.layout ?? detectLayout(root);
  const skipped: string[] = [];
  const entries: ScanEntry[] = [];
  // A labeled folder imported as itself belongs to the type its parent folder names.
  const labeledRoot = layout === 'folders' && isLabeledFolder(root);
  const rootName = options.objectType ?? basename(labeledRoot ? dirname(root) : root);

  if (layout === 'mvtec') {
    if (isMvtecType(root)) {
      entries.push(...scanMvtecType(root, rootName, skipped));
    } else {
      const types = subdirs(root).filter((name) => isMvtecType(join(root, name)));
      if (types.length === 0) {
        throw new BadArgumentError(
          `${root} is not in MVTec AD layout (no <type>/train or <type>/test folders).`,
        );
      }
      if (options.objectType && types.length > 1) {
        throw new BadArgumentError(
          `--type names one object type, but ${root} holds ${types.length}: ${types.join(', ')}.`,
        );
      }
      for (const name of types)
        entries.push(...scanMvtecType(join(root, name), options.objectType ?? name, skipped));
    }
  } else if (layout === 'folders') {
    // good/ → good; defect/ (or bad/, ng/) → defect; any other folder → defect of that kind. A
    // labeled folder imported as itself: its images, and a defect folder's subfolders as kinds.
    const inside = (dir: string) =>
      subdirs(dir).map((name) => ({ name, dir: join(dir, name), recursive: true }));
    const own = { name: basename(root), dir: root };
    const folders = !labeledRoot
      ? inside(root)
      : labelOfName(own.name) === 'good'
        ? [{ ...own, recursive: true }]
        : [{ ...own, recursive: false }, ...inside(root)];
    for (const { name, dir, recursive } of folders) {
      const label = labelOfName(name);
      for (const path of imagesIn(dir, skipped, recursive)) {
        entries.push({
          path,
          objectType: rootName,
          split: 'unsplit',
          label: label ?? 'defect',
          defectKind: label ? null : name,
          maskPath: null,
        });
      }
    }
  } else {
    for (const path of imagesIn(root, skipped, true)) {
      entries.push({
        path,
        objectType: rootName,
        split: 'unsplit',
        label: null,
        defectKind: null,
        maskPath: null,
      });
    }
  }
  if (entries.length === 0 && skipped.length === 0) {
    throw new BadArgumentError(
      `No images found in ${root} (looked for ${[...IMAGE_EXTENSIONS].join(', ')} as ${layout} layout).`,
    );
  }
  return { layout, entries, skipped };
}
