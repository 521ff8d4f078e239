// @ts-check
// Berth's web UI: the shell (header, sign-in state, footer) and the router. Routes live in the URL's hash, so
// the Worker serves one page and every view can be linked and bookmarked:
//   #/                      repositories (?q= filter)
//   #/r/<name>              a repository's tags (?q= filter, ?sort=, ?page=)
//   #/r/<name>:<tag>        a manifest by tag;  #/r/<name>@<digest>  by digest
//   #/sign-in               sign in (?next= the route to return to)
//   #/admin                 administration (only when adminPanels has something to show)
// Image references use the same separators, and neither ":" nor "@" can occur in a repository name.

import { adminPanels } from "./admin.js";
import { Registry } from "./api.js";
import { errorNotice as notice, h, replace } from "./dom.js";
import { catalogView } from "./catalog.js";
import { manifestView } from "./manifest.js";
import { repositoryView } from "./repository.js";
import { signInView } from "./signin.js";

/**
 * @typedef {{ main: HTMLElement, registry: Registry, query: URLSearchParams, signal: AbortSignal,
 *   route: string, setQuery: (q: Record<string, string | null>) => void, go: (hash: string) => void,
 *   title: (t: string) => void, flash: (text: string) => void }} ViewContext
 */

const registry = new Registry();
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
/** @type {AbortController | null} */
let current = null;
/** Whether a page was shown already (focus moves only on later navigations). */
let routed = false;
/** A message for the next view (e.g. "Tag v1 deleted"), shown once. */
let flashText = "";

/** @param {string} hash */
function parseRoute(hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const qi = raw.indexOf("?");
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? "" : raw.slice(qi + 1));
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // keep it as typed
  }
  return { path: decoded, query };
}

/** The route as a hash, with a query. @param {string} path @param {URLSearchParams} query */
function hashOf(path, query) {
  const q = query.toString();
  return `#${path}${q ? `?${q}` : ""}`;
}

function renderWho() {
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const mode = /** @type {HTMLElement} */ (document.getElementById("mode"));
  const m = registry.mode;
  replace(mode, m === null ? "" : m.kind === "none" ? "Open registry: no sign-in." : m.kind === "basic" ? "Sign-in: user name and password (Basic)." : "Sign-in: token.");
  if (!registry.canSignIn) return replace(who);
  if (registry.user) {
    replace(
      who,
      h("span", { class: "user" }, "Signed in as ", h("strong", null, registry.user)),
      h("button", { type: "button", class: "link", onclick: () => (registry.signOut(), route()) }, "Sign out"),
    );
  } else {
    const here = location.hash.startsWith("#/sign-in") ? "" : `?next=${encodeURIComponent(location.hash || "#/")}`;
    replace(who, h("a", { href: `#/sign-in${here}` }, "Sign in"));
  }
}

function renderNav() {
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const items = [{ href: "#/", label: "Repositories" }];
  if (adminPanels.some((p) => p.visible(registry))) items.push({ href: "#/admin", label: "Administration" });
  const here = location.hash || "#/";
  replace(
    nav,
    h(
      "ul",
      null,
      items.map((i) => h("li", null, h("a", { href: i.href, "aria-current": (i.href === "#/" ? here === "#/" || here.startsWith("#/?") || here.startsWith("#/r/") : here.startsWith(i.href)) ? "page" : false }, i.label))),
    ),
  );
}

/** main is aria-busy while the registry is being asked (and for a moment after, so the page can settle). */
let idleTimer = 0;
registry.onBusy = (/** @type {boolean} */ busy) => {
  clearTimeout(idleTimer);
  if (busy) main.setAttribute("aria-busy", "true");
  else idleTimer = window.setTimeout(() => main.setAttribute("aria-busy", "false"), 50);
};

async function route() {
  if (location.hash !== "" && !location.hash.startsWith("#/")) return; // an in-page anchor, not a route
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  const { path, query } = parseRoute(location.hash);
  renderWho();
  renderNav();
  /** @type {ViewContext} */
  const ctx = {
    main,
    registry,
    query,
    signal: ctl.signal,
    route: path,
    setQuery(q) {
      for (const [k, v] of Object.entries(q)) {
        if (v === null || v === "") query.delete(k);
        else query.set(k, v);
      }
      history.replaceState(null, "", hashOf(path, query));
    },
    go(hash) {
      location.hash = hash;
    },
    title(t) {
      document.title = `${t} · Berth`;
    },
    flash(text) {
      flashText = text;
    },
  };
  main.setAttribute("aria-busy", "true");
  const flash = flashText;
  flashText = "";
  main.replaceChildren();
  if (flash) main.appendChild(h("div", { class: "notice ok", role: "status" }, h("p", null, flash)));
  try {
    if (path === "/" || path === "") await catalogView(ctx);
    else if (path === "/sign-in") await signInView(ctx, () => renderWho());
    else if (path.startsWith("/r/")) {
      const ref = path.slice(3);
      const at = ref.indexOf("@");
      const colon = ref.indexOf(":");
      if (at > 0) await manifestView(ctx, ref.slice(0, at), ref.slice(at + 1));
      else if (colon > 0) await manifestView(ctx, ref.slice(0, colon), ref.slice(colon + 1));
      else await repositoryView(ctx, ref.replace(/\/+$/, ""));
    } else if (path === "/admin") {
      ctx.title("Administration");
      main.appendChild(h("h1", { tabindex: "-1" }, "Administration"));
      for (const p of adminPanels) if (p.visible(registry)) main.appendChild(await p.render(ctx));
    } else {
      ctx.title("Not found");
      main.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "#/" }, "Back to the repositories")));
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
    if (!main.querySelector("h1")) main.appendChild(h("h1", { tabindex: "-1" }, "Something went wrong"));
    main.appendChild(notice(e, registry));
  }
  if (ctl.signal.aborted) return;
  if (registry.inflight === 0) registry.onBusy(false);
  // After a navigation, focus moves to the new page's heading, so keyboard and screen-reader users start at
  // the top of it. The first page keeps the browser's own start (the skip link comes first).
  const first = !routed;
  routed = true;
  if (!first && (document.activeElement === document.body || !main.contains(document.activeElement))) {
    /** @type {HTMLElement | null} */ (main.querySelector("h1"))?.focus({ preventScroll: true });
  }
}

async function start() {
  try {
    await registry.init();
  } catch (e) {
    main.replaceChildren(h("h1", { tabindex: "-1" }, "The registry did not answer"), notice(e, registry));
    return;
  }
  registry.onChange(renderWho);
  // The skip link moves focus to the content (its href would be taken for a route).
  document.querySelector(".skip")?.addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => {
    window.scrollTo(0, 0);
    void route();
  });
  await route();
}

void start();
