// Numbers and times as an inspector reads them.
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function percent(done: number, total: number): number {
  return total > 0 ? Math.min(100, (100 * done) / total) : 0;
}

export function formatScore(score: number | null): string {
  return score === null ? '—' : score.toFixed(3);
}

export function formatMetric(value: unknown, digits = 3): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

export function formatTime(iso: string | null): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

/** The file name of a path, for captions (either separator: paths may come from Windows). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** The last two parts of a path: a defect-kind or good/ folder tells a lot. */
export function shortPath(path: string): string {
  return path.split(/[\\/]/).slice(-2).join('/');
}
