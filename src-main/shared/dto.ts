// Data shapes that cross process boundaries (CLI output, IPC, HTTP). The renderer sees these,
// never database rows.

export type Split = 'train' | 'test' | 'unsplit';
export type Label = 'good' | 'defect';
export type LabelSource = 'import' | 'review' | 'prediction';

export interface ObjectTypeSummary {
  id: number;
  name: string;
  images: number;
  /** Counts per split and current label ('unlabeled' where none). */
  counts: Record<Split, { good: number; defect: number; unlabeled: number }>;
  defectKinds: string[];
  masks: number;
}

export interface ImageDto {
  id: number;
  objectType: string;
  path: string;
  sha256: string;
  width: number;
  height: number;
  split: Split;
  label: Label | null;
  defectKind: string | null;
  maskPath: string | null;
}

export interface FileProblem {
  path: string;
  /** Machine-readable reason: an ImageProblem or another short code. */
  problem: string;
  message: string;
}

export interface ImportSummary {
  root: string;
  layout: 'mvtec' | 'folders' | 'unlabeled';
  objectTypes: string[];
  /** Image files seen (decodable or not). */
  seen: number;
  added: number;
  /** Already in the store (same content hash) — re-imports add nothing. */
  unchanged: number;
  labelsAdded: number;
  masksAdded: number;
  failed: FileProblem[];
}

/** The inspector-facing decision for one image. */
export type Decision = 'OK' | 'DEFECT' | 'UNSURE';
