// One way to page every list: fetch one item more than asked to learn whether a next page exists.
import type { Page, PageRequest } from '../../shared/dto.js';

export const DEFAULT_PAGE = 100;

export function page<T>(
  request: PageRequest,
  fetch: (offset: number, limit: number) => T[],
): Page<T> {
  const offset = request.offset ?? 0;
  const limit = request.limit ?? DEFAULT_PAGE;
  const items = fetch(offset, limit + 1);
  const more = items.length > limit;
  return {
    items: more ? items.slice(0, limit) : items,
    offset,
    nextOffset: more ? offset + limit : null,
  };
}
