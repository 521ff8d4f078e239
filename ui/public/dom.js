// @ts-check
// DOM helpers of Berth's UI: element building (text is always set as text, never parsed as HTML), copy
// buttons, screen-reader announcements, error notices, the confirmation dialog, and number/date/digest formatting.

import { ApiError } from "./api.js";

/**
 * Builds an element. `attrs`: attributes (false/null/undefined skip one), `on*` functions become listeners,
 * `class` and `for` as in HTML. Children: nodes, strings (as text), arrays, null/false (skipped).
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** @param {Node} el @param {unknown[]} children */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. @param {Element} el @param {...unknown} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Says `text` to screen readers (the page's polite live region). @param {string} text */
export function announce(text) {
  const live = document.getElementById("announce");
  if (!live) return;
  live.textContent = "";
  // A new text node after a tick, so the same message twice is announced twice.
  setTimeout(() => (live.textContent = text), 30);
}

/** @param {string} text */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http registries on another host are not a secure context: the old way still works there.
  const ta = h("textarea", { readonly: true, class: "sr-only", "aria-hidden": "true" });
  ta.textContent = text;
  document.body.appendChild(ta);
  /** @type {HTMLTextAreaElement} */ (ta).select();
  const ok = document.execCommand("copy");
  ta.remove();
  if (!ok) throw new Error("copy refused");
}

/**
 * A button that copies `text`; `what` names it for screen readers ("Copy digest sha256:…").
 * @param {string} text @param {string} what
 */
export function copyButton(text, what) {
  const b = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "copy", "aria-label": `Copy ${what}`, "data-copy": text }, "Copy"));
  b.addEventListener("click", async () => {
    try {
      await copyText(text);
      b.textContent = "Copied";
      announce(`Copied ${what}`);
    } catch {
      b.textContent = "Copy failed";
      announce(`Could not copy ${what}; select it and copy it by hand`);
    }
    setTimeout(() => (b.textContent = "Copy"), 2000);
  });
  return b;
}

/** The short form of a digest: algorithm and 12 hex digits. @param {string} d */
export function shortDigest(d) {
  const i = d.indexOf(":");
  return i < 0 ? d.slice(0, 12) : `${d.slice(0, i)}:${d.slice(i + 1, i + 13)}`;
}

/** A short digest with the full one as its title, and a copy button. @param {string} d */
export function digestCell(d) {
  return h("span", { class: "digest" }, h("code", { title: d }, shortDigest(d)), copyButton(d, `digest ${d}`));
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
/** @param {number | null | undefined} n */
export function bytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
/** A <time> element, or a dash. @param {string | null | undefined} iso */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h("span", null, iso);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, dateFmt.format(d));
}

/** @param {number} n */
export function count(n) {
  return n.toLocaleString();
}

/**
 * Asks for confirmation in a modal dialog: resolves true when `confirmLabel` was chosen. The dialog names
 * exactly what goes (`body`), starts focused on Cancel, and Escape cancels.
 * @param {{ title: string, body: unknown[], confirmLabel: string }} opts
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, body, confirmLabel }) {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
    const ok = h("button", { type: "button", class: "danger solid", value: "ok" }, confirmLabel);
    const dlg = /** @type {HTMLDialogElement} */ (
      h("dialog", { "aria-labelledby": "dlg-title", "aria-describedby": "dlg-body" }, h("h2", { id: "dlg-title" }, title), h("div", { id: "dlg-body" }, body), h("div", { class: "actions" }, cancel, ok))
    );
    const opener = document.activeElement;
    /** @param {boolean} v */
    const done = (v) => {
      dlg.close();
      dlg.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(v);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/**
 * Runs `fn` over `items` with at most `limit` at once; results in input order.
 * @template T, R
 * @param {T[]} items @param {number} limit @param {(item: T, i: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
export async function mapLimit(items, limit, fn) {
  /** @type {R[]} */
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(/** @type {T} */ (items[i]), i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * An error as an alert: the registry's code and message; a refusal to an anonymous caller invites signing in.
 * @param {unknown} e @param {import("./api.js").Registry} registry @param {string} [prefix]
 */
export function errorNotice(e, registry, prefix = "") {
  const err = e instanceof ApiError ? e : null;
  const message = err ? err.message : e instanceof Error ? e.message : String(e);
  const signIn =
    err && err.status === 401 && registry.canSignIn && !registry.user
      ? h("p", null, h("a", { href: `#/sign-in?next=${encodeURIComponent(location.hash || "#/")}` }, "Sign in"), " to see more.")
      : null;
  return h("div", { class: "notice error", role: "alert" }, h("p", null, prefix, h("strong", null, err ? `${err.code}: ` : "Error: "), message), signIn);
}
