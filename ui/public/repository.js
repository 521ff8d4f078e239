// @ts-check
// A repository: its tags, a page at a time. The tag names come from the registry's tags list (names only, so
// 5,000 tags cost five small requests); what a tag is (digest, kind, size, creation time, platforms) is read only
// for the tags of the page shown: their manifests, and an image's config through Berth's small-blob route.
// Names sort across every tag; creation time is known only for the page, so that sort orders the page.

import { isIndex, kindOf, platformName } from "./api.js";
import { bytes, copyButton, count, digestCell, errorNotice, h, mapLimit, replace, time } from "./dom.js";

const PAGE = 25;
/** Children of an index read to add up its size (a larger index shows its size as unknown). */
const INDEX_CHILDREN = 16;

/**
 * @typedef {{ digest: string, kind: "image" | "index" | "artifact", artifactType?: string, platforms: string[],
 *   size: number | null, created: string | null }} TagDetails
 */

/**
 * Reads what a tag is. @param {import("./api.js").Registry} registry @param {string} repo @param {string} tag
 * @returns {Promise<TagDetails>}
 */
export async function tagDetails(registry, repo, tag) {
  const m = await registry.manifest(repo, tag);
  const k = kindOf(m);
  const ann = m.manifest.annotations ?? {};
  /** @type {TagDetails} */
  const d = { digest: m.digest, ...k, platforms: [], size: null, created: ann["org.opencontainers.image.created"] ?? null };
  if (isIndex(m.mediaType) || Array.isArray(m.manifest.manifests)) {
    const kids = m.manifest.manifests ?? [];
    d.platforms = kids.map((c) => platformName(c.platform)).filter((p) => p !== "" && !p.startsWith("unknown/unknown"));
    if (kids.length <= INDEX_CHILDREN) {
      const children = await mapLimit(kids, 4, (c) => registry.manifest(repo, c.digest).catch(() => null));
      if (children.every((c) => c !== null)) d.size = children.reduce((n, c) => n + (c ? imageSize(c.manifest) : 0), 0);
      if (d.created === null) {
        const img = children.find((c) => c && kindOf(c).kind === "image");
        if (img?.manifest.config) d.created = await createdOf(registry, repo, img.manifest.config.digest);
      }
    }
    return d;
  }
  d.size = imageSize(m.manifest);
  if (k.kind === "image" && m.manifest.config) {
    const cfg = await registry.config(repo, m.manifest.config.digest).catch(() => null);
    if (cfg && typeof cfg === "object") {
      const c = /** @type {{ created?: string, os?: string, architecture?: string, variant?: string }} */ (cfg);
      d.created = c.created ?? d.created;
      if (c.os && c.architecture) d.platforms = [platformName({ os: c.os, architecture: c.architecture, variant: c.variant })];
    }
  }
  return d;
}

/** Config plus layers, as registries show an image's size. @param {import("./api.js").Manifest} m */
export function imageSize(m) {
  return (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + (l.size ?? 0), 0);
}

/** @param {import("./api.js").Registry} registry @param {string} repo @param {string} digest */
async function createdOf(registry, repo, digest) {
  const cfg = /** @type {{ created?: string } | null} */ (await registry.config(repo, digest).catch(() => null));
  return cfg?.created ?? null;
}

/** The kind as a badge. @param {TagDetails | { kind: string, artifactType?: string }} d */
export function kindBadge(d) {
  if (d.kind === "index") return h("span", { class: "badge index" }, "Multi-arch index");
  if (d.kind === "artifact") return h("span", null, h("span", { class: "badge artifact" }, "Artifact"), " ", h("code", { class: "wrap" }, d.artifactType ?? ""));
  return h("span", { class: "badge" }, "Image");
}

const SORTS = /** @type {const} */ (["name", "-name", "time", "-time"]);

/** @param {import("./app.js").ViewContext} ctx @param {string} repo */
export async function repositoryView(ctx, repo) {
  const { main, registry, signal } = ctx;
  ctx.title(repo);
  const filter = /** @type {HTMLInputElement} */ (h("input", { id: "tag-filter", type: "search", autocomplete: "off", spellcheck: "false", "aria-describedby": "tag-count" }));
  filter.value = ctx.query.get("q") ?? "";
  const status = h("p", { id: "tag-count", class: "muted", "aria-live": "polite" }, "Reading tags…");
  const body = h("tbody");
  const caption = h("caption", { class: "sr-only" });
  const nameTh = h("th", { scope: "col" });
  const timeTh = h("th", { scope: "col" });
  const table = h(
    "table",
    { class: "cards" },
    caption,
    h("thead", null, h("tr", null, nameTh, h("th", { scope: "col" }, "Digest"), h("th", { scope: "col" }, "Kind"), h("th", { scope: "col" }, "Platforms"), h("th", { scope: "col", class: "num" }, "Size"), timeTh)),
    body,
  );
  const pager = h("nav", { class: "pager", "aria-label": "Tag pages" });
  const box = h("div");
  const pullRef = `${location.host}/${repo}`;
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("ol", null, h("li", null, h("a", { href: "#/" }, "Repositories")), h("li", null, h("span", { "aria-current": "page" }, repo)))),
    h(
      "div",
      { class: "head" },
      h("div", null, h("h1", { tabindex: "-1" }, repo), h("p", null, h("code", null, pullRef), " ", copyButton(pullRef, `repository ${pullRef}`))),
    ),
    box,
    h(
      "section",
      { class: "panel", "aria-labelledby": "tags-h" },
      h("h2", { id: "tags-h" }, "Tags"),
      h("div", { class: "toolbar", role: "search" }, h("div", { class: "field grow" }, h("label", { for: "tag-filter" }, "Filter tags"), filter)),
      status,
      h("div", { class: "scroll" }, table),
      pager,
    ),
  );

  // The first page of names is shown as soon as it arrives (names come sorted); sorting otherwise, filtering,
  // or paging beyond what arrived waits for the rest.
  /** @type {string[]} */
  let tags = [];
  let complete = false;
  let shown = false;
  /** @type {(v?: unknown) => void} */
  let arrived = () => {};
  const first = new Promise((r) => (arrived = r));
  let failure = /** @type {unknown} */ (null);
  registry
    .allTags(repo, signal, (sofar, done) => {
      tags = sofar;
      complete = done;
      arrived();
      if (shown && !signal.aborted) void render(false);
    })
    .catch((e) => {
      failure = e;
      arrived();
      if (shown && !signal.aborted) replace(box, errorNotice(e, registry));
    });
  await first;
  if (signal.aborted) return;
  if (failure !== null && tags.length === 0) {
    status.textContent = "";
    replace(box, errorNotice(failure, registry));
    return;
  }

  /** @type {Map<string, Promise<TagDetails>>} */
  const details = new Map();
  /** @type {Map<string, TagDetails | Error>} */
  const known = new Map();
  const detailsOf = (/** @type {string} */ tag) => {
    let p = details.get(tag);
    if (!p) {
      p = tagDetails(registry, repo, tag);
      details.set(tag, p);
      p.then((d) => known.set(tag, d), (e) => known.set(tag, e instanceof Error ? e : new Error(String(e))));
    }
    return p;
  };

  let sort = /** @type {(typeof SORTS)[number]} */ (SORTS.find((s) => s === ctx.query.get("sort")) ?? "name");
  let page = Math.max(1, Number(ctx.query.get("page")) || 1);

  const sortButton = (/** @type {"name" | "time"} */ key, /** @type {string} */ label) =>
    h(
      "button",
      {
        type: "button",
        class: "sort",
        onclick: () => {
          // Names: A to Z first; times: newest first. A second click reverses.
          sort = key === "name" ? (sort === "name" ? "-name" : "name") : sort === "-time" ? "time" : "-time";
          if (key === "name") page = 1;
          ctx.setQuery({ sort: sort === "name" ? null : sort, page: page === 1 ? null : String(page) });
          void render(true);
        },
      },
      label,
    );
  replace(nameTh, sortButton("name", "Tag"));
  replace(timeTh, sortButton("time", "Created"));

  let timer = 0;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      page = 1;
      ctx.setQuery({ q: filter.value.trim(), page: null });
      void render(false);
    }, 120);
  });

  let run = 0;
  let rendered = "";
  /** @param {boolean} focusSort */
  const render = async (focusSort) => {
    const mine = ++run;
    const q = filter.value.trim();
    if (!complete && (sort !== "name" || q !== "" || page * PAGE > tags.length)) {
      status.textContent = `Reading tags… ${count(tags.length)} so far.`;
      return; // rendered again when the last page arrives
    }
    const matching = q ? tags.filter((t) => t.includes(q)) : tags.slice();
    matching.sort();
    if (sort === "-name") matching.reverse();
    const pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(page, pages);
    let rows = matching.slice((page - 1) * PAGE, page * PAGE);
    const byTime = sort === "time" || sort === "-time";
    if (byTime) {
      // Creation time is read per tag: the page's tags are ordered once all of them are known.
      replace(body, rows.map((t) => row(t)));
      rendered = "";
      await Promise.allSettled(rows.map(detailsOf));
      if (mine !== run || signal.aborted) return;
      const t = (/** @type {string} */ tag) => {
        const d = known.get(tag);
        return d && !(d instanceof Error) && d.created ? Date.parse(d.created) || 0 : 0;
      };
      rows = rows.slice().sort((a, b) => (sort === "time" ? t(a) - t(b) : t(b) - t(a)));
    }
    // The sort and the count are told once the rows are in their final order.
    nameTh.setAttribute("aria-sort", sort === "name" ? "ascending" : sort === "-name" ? "descending" : "none");
    timeTh.setAttribute("aria-sort", sort === "time" ? "ascending" : sort === "-time" ? "descending" : "none");
    const order =
      sort === "name" ? "by name, A to Z" : sort === "-name" ? "by name, Z to A" : `by creation time, ${sort === "-time" ? "newest" : "oldest"} first${pages > 1 ? " within each page" : ""}`;
    const total = `${count(tags.length)}${complete ? "" : "+"}`;
    const of = q ? `${count(matching.length)} of ${total} tags match “${q}”` : `${total} ${tags.length === 1 && complete ? "tag" : "tags"}`;
    status.textContent = tags.length === 0 ? "This repository has no tags." : matching.length === 0 ? `No tag matches “${q}”.` : `${of}, sorted ${order}.`;
    const first = (page - 1) * PAGE + 1;
    caption.textContent = matching.length === 0 ? "" : `Tags ${count(first)} to ${count(first + rows.length - 1)} of ${count(matching.length)}`;
    table.hidden = matching.length === 0;

    // The same rows again (the rest of the names arrived) are left alone, and so is the focus in them.
    const key = JSON.stringify([rows, sort]);
    if (key !== rendered) replace(body, rows.map((t) => row(t)));
    rendered = key;
    renderPager(pages);
    if (focusSort) /** @type {HTMLElement | null} */ ((byTime ? timeTh : nameTh).querySelector("button"))?.focus();
  };

  /** One table row; its cells fill in when the tag's details arrive. @param {string} tag */
  const row = (tag) => {
    const cells = {
      digest: h("td", { "data-label": "Digest" }, h("span", { class: "muted" }, "…")),
      kind: h("td", { "data-label": "Kind" }),
      platforms: h("td", { "data-label": "Platforms", class: "wrap" }),
      size: h("td", { "data-label": "Size", class: "num" }),
      created: h("td", { "data-label": "Created" }),
    };
    const tr = h(
      "tr",
      null,
      h("td", { "data-label": "Tag" }, h("a", { class: "tag-name", href: `#/r/${repo}:${tag}` }, tag)),
      cells.digest,
      cells.kind,
      cells.platforms,
      cells.size,
      cells.created,
    );
    const fill = (/** @type {TagDetails | Error} */ d) => {
      if (d instanceof Error) {
        replace(cells.digest, h("span", { class: "error-text" }, d.message));
        return;
      }
      replace(cells.digest, digestCell(d.digest));
      replace(cells.kind, kindBadge(d));
      replace(cells.platforms, d.platforms.join(", "));
      replace(cells.size, bytes(d.size));
      replace(cells.created, time(d.created));
    };
    const k = known.get(tag);
    if (k) fill(k);
    else detailsOf(tag).then(fill, (e) => fill(e instanceof Error ? e : new Error(String(e))));
    return tr;
  };

  /** @param {number} pages */
  const renderPager = (pages) => {
    if (pages <= 1) return replace(pager);
    const go = (/** @type {number} */ p, /** @type {string} */ which) => {
      page = p;
      ctx.setQuery({ page: p === 1 ? null : String(p) });
      void render(false).then(() => /** @type {HTMLElement | null} */ (pager.querySelector(`[data-go="${which}"]:not([disabled])`) ?? pager.querySelector("button:not([disabled])"))?.focus());
    };
    replace(
      pager,
      h("button", { type: "button", "data-go": "prev", disabled: page <= 1, onclick: () => go(page - 1, "prev") }, "Previous page"),
      h("span", { "aria-live": "polite" }, `Page ${count(page)} of ${count(pages)}${complete ? "" : "+"}`),
      h("button", { type: "button", "data-go": "next", disabled: page >= pages, onclick: () => go(page + 1, "next") }, "Next page"),
    );
  };

  await render(false);
}
