// @ts-check
// The catalog: every repository the caller may read, filtered as you type. The registry's catalog is read a
// page (1,000 names) at a time and only as far as needed: to fill the list shown, or to find enough matches
// for the filter, so a registry with many thousands of repositories costs one request to open.

import { count, errorNotice, h, replace } from "./dom.js";

/** Names fetched per catalog request (the registry's largest page). */
const FETCH = 1000;
/** Names shown at first, and added by "Show more". */
const SHOW = 60;

/** What was read of the catalog, kept while the session stays the same (Back returns at once). */
let cache = { who: "", names: /** @type {string[]} */ ([]), more: true, last: "" };

/** @param {import("./app.js").ViewContext} ctx */
export async function catalogView(ctx) {
  const { main, registry, signal } = ctx;
  ctx.title("Repositories");
  const who = registry.user ?? "";
  if (cache.who !== who) cache = { who, names: [], more: true, last: "" };

  const input = /** @type {HTMLInputElement} */ (
    h("input", { id: "repo-filter", type: "search", autocomplete: "off", spellcheck: "false", placeholder: "e.g. team/app", "aria-describedby": "repo-count" })
  );
  input.value = ctx.query.get("q") ?? "";
  const status = h("p", { id: "repo-count", class: "muted", "aria-live": "polite" });
  const list = h("ul", { class: "repos", "aria-label": "Repositories" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { type: "button" }, "Show more"));
  const moreRow = h("div", { class: "more" }, more);
  const box = h("div", { class: "notices" });
  main.append(
    h("div", { class: "head" }, h("div", null, h("h1", { tabindex: "-1" }, "Repositories"), h("p", null, `Everything on ${location.host} you may read.`))),
    box,
    h(
      "section",
      { class: "panel", "aria-labelledby": "repos-h" },
      h("h2", { id: "repos-h", class: "sr-only" }, "Repository list"),
      h("div", { class: "toolbar", role: "search" }, h("div", { class: "field grow" }, h("label", { for: "repo-filter" }, "Filter repositories"), input)),
      status,
      list,
      moreRow,
    ),
  );

  let shown = SHOW;
  let run = 0;

  /** Reads catalog pages until `want` names match `q` (or the catalog ends). */
  const fill = async (/** @type {string} */ q, /** @type {number} */ want) => {
    const match = (/** @type {string} */ n) => n.includes(q);
    while (cache.more && cache.names.filter(match).length < want) {
      const page = await registry.catalogPage(cache.last, FETCH, signal);
      if (cache.who !== who) return;
      cache.names.push(...page.names);
      cache.last = page.names[page.names.length - 1] ?? cache.last;
      cache.more = page.more && page.names.length > 0;
      status.textContent = `Reading the catalog… ${count(cache.names.length)} repositories so far`;
    }
  };

  const render = async () => {
    const mine = ++run;
    const q = input.value.trim().toLowerCase();
    more.disabled = true;
    try {
      await fill(q, shown + 1);
    } catch (e) {
      if (signal.aborted) return;
      replace(box, errorNotice(e, registry));
      status.textContent = "";
      moreRow.hidden = true;
      return;
    }
    if (mine !== run || signal.aborted) return;
    replace(box);
    const matches = q ? cache.names.filter((n) => n.includes(q)) : cache.names;
    const visible = matches.slice(0, shown);
    replace(list, visible.map((n) => h("li", null, h("a", { href: `#/r/${n}` }, highlight(n, q)))));
    const total = cache.more ? `${count(cache.names.length)}+` : count(cache.names.length);
    if (cache.names.length === 0 && !cache.more) {
      status.textContent = registry.user || !registry.canSignIn ? "No repositories yet." : "No repositories you may read without signing in.";
    } else if (q) {
      status.textContent = matches.length === 0 ? `No repository matches “${q}” (of ${total}).` : `${count(matches.length)}${cache.more ? "+" : ""} of ${total} repositories match “${q}”; showing ${count(visible.length)}.`;
    } else {
      status.textContent = `${total} ${cache.names.length === 1 && !cache.more ? "repository" : "repositories"}; showing ${count(visible.length)}.`;
    }
    moreRow.hidden = matches.length <= shown && !cache.more;
    more.disabled = false;
  };

  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      shown = SHOW;
      ctx.setQuery({ q: input.value.trim() });
      void render();
    }, 120);
  });
  more.addEventListener("click", () => {
    // Focus goes to the first new entry, so keyboard users continue where they were.
    const before = list.children.length;
    shown += SHOW;
    void render().then(() => /** @type {HTMLElement | null} */ (list.children[before]?.querySelector("a") ?? null)?.focus());
  });
  await render();
}

/** The name with the matched part marked. @param {string} name @param {string} q */
function highlight(name, q) {
  const i = q ? name.indexOf(q) : -1;
  if (i < 0) return name;
  return [name.slice(0, i), h("mark", null, name.slice(i, i + q.length)), name.slice(i + q.length)];
}
