// `n` / `last` pagination shared by the tags list and the catalog: results in lexical order, those after
// `last`, at most `n` (clamped to what the registry is willing to send), and a Link header (RFC 5988) to the
// next page when more remain.

import { OciError } from "../oci/errors";

export const MAX_PAGE = 1000;

export interface Page {
  items: string[];
  /** Link header value, when another page follows. */
  link?: string;
}

export function paginate(sorted: string[], url: URL, path: string): Page {
  const rawN = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  let n = MAX_PAGE;
  if (rawN !== null && rawN !== "") {
    if (!/^\d{1,9}$/.test(rawN)) {
      throw new OciError("UNSUPPORTED", "the n query parameter must be a non-negative integer", { status: 400 });
    }
    n = Math.min(Number(rawN), MAX_PAGE);
  }
  const after = last ? sorted.filter((s) => s > last) : sorted;
  const items = after.slice(0, n);
  const more = after.length > items.length && items.length > 0;
  if (!more) return { items };
  const next = new URLSearchParams({ n: String(n), last: items[items.length - 1] as string });
  return { items, link: `<${path}?${next.toString()}>; rel="next"` };
}
