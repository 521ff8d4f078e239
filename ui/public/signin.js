// @ts-check
// Sign in with user name and password: checked against GET /v2/ with Basic credentials (htpasswd mode), or
// exchanged at the token endpoint for a refresh token (token mode). The password is never stored.

import { ApiError } from "./api.js";
import { errorNotice, h, replace } from "./dom.js";

/** @param {import("./app.js").ViewContext} ctx @param {() => void} changed */
export async function signInView(ctx, changed) {
  const { main, registry } = ctx;
  ctx.title("Sign in");
  const next = ctx.query.get("next");
  const back = next && next.startsWith("#/") && !next.startsWith("#/sign-in") ? next : "#/";
  if (!registry.canSignIn) {
    main.append(h("h1", { tabindex: "-1" }, "Sign in"), h("p", null, "This registry is open: there is nothing to sign in to. ", h("a", { href: "#/" }, "See the repositories.")));
    return;
  }
  const user = /** @type {HTMLInputElement} */ (h("input", { id: "user", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" }));
  const pass = /** @type {HTMLInputElement} */ (h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }));
  const submit = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Sign in"));
  const out = h("div");
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "field" }, h("label", { for: "user" }, "User name"), user),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), pass),
    out,
    h("div", null, submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!user.value || !pass.value) {
      replace(out, h("div", { class: "notice error", role: "alert" }, h("p", null, "Enter your user name and password.")));
      (user.value ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    replace(out, h("p", { class: "muted", role: "status" }, "Signing in…"));
    try {
      await registry.signIn(user.value, pass.value);
    } catch (err) {
      submit.disabled = false;
      pass.value = "";
      replace(
        out,
        err instanceof ApiError && err.status === 401
          ? h("div", { class: "notice error", role: "alert" }, h("p", null, "Wrong user name or password."))
          : errorNotice(err, registry),
      );
      pass.focus();
      return;
    }
    changed();
    ctx.flash(`Signed in as ${registry.user}.`);
    ctx.go(back);
  });
  main.append(
    h(
      "div",
      { class: "signin" },
      h("h1", { tabindex: "-1" }, "Sign in"),
      h("p", { class: "muted" }, `to ${location.host}. Your password is sent to the registry only; this tab forgets the session when it closes.`),
      h("section", { class: "panel", "aria-label": "Sign-in form" }, form),
    ),
  );
  if (registry.user) out.appendChild(h("p", { class: "muted" }, `You are signed in as ${registry.user}; signing in again replaces that session.`));
}
