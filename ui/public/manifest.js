// @ts-check
// A manifest, by tag or digest: what it is, how to pull it, its layers and image config (or the platforms of an
// index, each a link), annotations, referrers (signatures, SBOMs, attestations), and deletion of the tag or the
// manifest for callers allowed to delete.

import { isIndex, kindOf, platformName } from "./api.js";
import { bytes, confirmDialog, copyButton, digestCell, errorNotice, h, mapLimit, replace, shortDigest, time } from "./dom.js";
import { imageSize, kindBadge } from "./repository.js";

/**
 * @typedef {{ created?: string, author?: string, architecture?: string, os?: string, variant?: string,
 *   config?: { Entrypoint?: string[] | null, Cmd?: string[] | null, Env?: string[] | null, WorkingDir?: string,
 *     User?: string, ExposedPorts?: Record<string, unknown> | null, Labels?: Record<string, string> | null,
 *     StopSignal?: string, Volumes?: Record<string, unknown> | null },
 *   history?: { created?: string, created_by?: string, comment?: string, empty_layer?: boolean }[] }} ImageConfig
 */

/** A panel with a heading. @param {string} id @param {string} title @param {...unknown} children */
function panel(id, title, ...children) {
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** A definition list from [term, value] pairs; empty values are left out. @param {[string, unknown][]} pairs */
function facts(pairs) {
  const kept = pairs.filter(([, v]) => v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0));
  return h("dl", { class: "facts" }, kept.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

/** A table of key/value pairs (labels, annotations). @param {Record<string, string>} obj @param {string} label */
function kvTable(obj, label) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "cards" },
      h("caption", { class: "sr-only" }, label),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"))),
      h(
        "tbody",
        null,
        Object.entries(obj).map(([k, v]) => h("tr", null, h("td", { "data-label": "Key", class: "wrap" }, h("code", null, k)), h("td", { "data-label": "Value", class: "wrap" }, v))),
      ),
    ),
  );
}

/** A shell command as a copyable line. @param {string} tool @param {string} cmd @param {string} what */
function command(tool, cmd, what) {
  return h("div", { class: "cmd" }, h("span", { class: "tool" }, tool), h("pre", { tabindex: "0", "aria-label": `${tool} command ${what}` }, h("code", null, cmd)), copyButton(cmd, `${tool} command ${what}`));
}

/**
 * Pull commands for docker, podman, skopeo and crane. Plain-http registries get the tools' insecure flags.
 * @param {string} repo @param {string} ref tag or digest @param {boolean} index
 */
function pullCommands(repo, ref, index) {
  const host = location.host;
  const full = ref.includes(":") ? `${host}/${repo}@${ref}` : `${host}/${repo}:${ref}`;
  const insecure = location.protocol === "http:";
  const base = repo.split("/").pop() ?? repo;
  return [
    ["docker", `docker pull ${full}`],
    ["podman", `podman pull ${insecure ? "--tls-verify=false " : ""}${full}`],
    ["skopeo", `skopeo copy ${index ? "--all " : ""}${insecure ? "--src-tls-verify=false " : ""}docker://${full} oci:${base}`],
    ["crane", `crane pull ${insecure ? "--insecure " : ""}${full} ${base}.tar`],
  ];
}

/** @param {import("./app.js").ViewContext} ctx @param {string} repo @param {string} ref */
export async function manifestView(ctx, repo, ref) {
  const { main, registry, signal } = ctx;
  const byDigest = ref.includes(":");
  const label = byDigest ? `${repo}@${shortDigest(ref)}` : `${repo}:${ref}`;
  ctx.title(label);
  main.append(
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("ol", null, h("li", null, h("a", { href: "#/" }, "Repositories")), h("li", null, h("a", { href: `#/r/${repo}` }, repo)), h("li", null, h("span", { "aria-current": "page" }, byDigest ? shortDigest(ref) : ref))),
    ),
    h("div", { class: "head" }, h("div", null, h("h1", { tabindex: "-1" }, label))),
  );
  const m = await registry.manifest(repo, ref, signal);
  if (signal.aborted) return;
  const k = kindOf(m);
  const doc = m.manifest;
  const index = isIndex(m.mediaType) || Array.isArray(doc.manifests);

  // What it is.
  const summary = facts([
    ["Digest", h("span", { class: "digest" }, h("code", null, m.digest), copyButton(m.digest, `digest ${m.digest}`))],
    ["Kind", kindBadge(k)],
    ["Media type", h("code", null, m.mediaType)],
    ["Manifest size", bytes(m.size)],
    ["Total size", index ? null : bytes(imageSize(doc))],
    ["Subject", doc.subject ? h("span", null, "Refers to ", h("a", { href: `#/r/${repo}@${doc.subject.digest}` }, h("code", null, shortDigest(doc.subject.digest)))) : null],
  ]);
  const summaryPanel = panel("sum-h", "Overview", summary);
  main.appendChild(summaryPanel);

  // How to pull it.
  const cmds = h("div", { class: "cmds" });
  if (!byDigest) cmds.append(h("h3", null, `By tag (${ref})`), ...pullCommands(repo, ref, index).map(([t, c]) => command(t ?? "", c ?? "", "by tag")));
  cmds.append(h("h3", null, "By digest"), ...pullCommands(repo, m.digest, index).map(([t, c]) => command(t ?? "", c ?? "", "by digest")));
  main.appendChild(panel("pull-h", byDigest ? "Pull by digest" : "Pull by tag or by digest", cmds));

  const sections = h("div", { class: "stack" });
  main.appendChild(sections);

  if (index) {
    sections.appendChild(await platformsPanel(ctx, repo, doc.manifests ?? []));
  } else {
    sections.appendChild(layersPanel(doc));
    if (k.kind === "image" && doc.config) {
      const cfgPanel = panel("cfg-h", "Image configuration", h("p", { class: "muted" }, "Reading the image configuration…"));
      sections.appendChild(cfgPanel);
      void fillConfig(ctx, repo, doc.config.digest, cfgPanel, summary);
    }
  }
  if (doc.annotations && Object.keys(doc.annotations).length > 0) sections.appendChild(panel("ann-h", "Annotations", kvTable(doc.annotations, "Annotations")));

  const refPanel = panel("ref-h", "Referrers", h("p", { class: "muted" }, "Reading referrers…"));
  sections.appendChild(refPanel);
  void fillReferrers(ctx, repo, m.digest, refPanel);

  sections.appendChild(await deletePanel(ctx, repo, byDigest ? null : ref, m.digest));
}

/** @param {import("./api.js").Manifest} doc */
function layersPanel(doc) {
  const layers = doc.layers ?? [];
  const cfg = doc.config;
  return panel(
    "layers-h",
    `Layers (${layers.length})`,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "cards" },
        h("caption", { class: "sr-only" }, "Layers and config blob"),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Media type"), h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col" }, "Digest"))),
        h(
          "tbody",
          null,
          layers.map((l, i) =>
            h("tr", null, h("td", { "data-label": "Layer" }, String(i + 1)), h("td", { "data-label": "Media type", class: "wrap" }, h("code", null, l.mediaType)), h("td", { "data-label": "Size", class: "num" }, bytes(l.size)), h("td", { "data-label": "Digest" }, digestCell(l.digest))),
          ),
          cfg
            ? h("tr", null, h("td", { "data-label": "Layer" }, "config"), h("td", { "data-label": "Media type", class: "wrap" }, h("code", null, cfg.mediaType)), h("td", { "data-label": "Size", class: "num" }, bytes(cfg.size)), h("td", { "data-label": "Digest" }, digestCell(cfg.digest)))
            : null,
        ),
      ),
    ),
  );
}

/**
 * @param {import("./app.js").ViewContext} ctx @param {string} repo @param {string} digest
 * @param {HTMLElement} target @param {HTMLElement} summary
 */
async function fillConfig(ctx, repo, digest, target, summary) {
  const heading = /** @type {HTMLElement} */ (target.firstChild);
  let cfg;
  try {
    cfg = /** @type {ImageConfig} */ (await ctx.registry.config(repo, digest));
  } catch (e) {
    replace(target, heading, errorNotice(e, ctx.registry));
    return;
  }
  if (ctx.signal.aborted) return;
  const c = cfg.config ?? {};
  const list = (/** @type {string[] | null | undefined} */ xs) => (xs && xs.length ? h("code", null, JSON.stringify(xs)) : null);
  // Created and platform belong to the overview.
  summary.append(
    ...(cfg.created ? [h("dt", null, "Created"), h("dd", null, time(cfg.created))] : []),
    ...(cfg.os ? [h("dt", null, "Platform"), h("dd", null, platformName({ os: cfg.os, architecture: cfg.architecture ?? "", variant: cfg.variant }))] : []),
  );
  const env = c.Env ?? [];
  const ports = Object.keys(c.ExposedPorts ?? {});
  const labels = c.Labels ?? {};
  const history = cfg.history ?? [];
  replace(
    target,
    heading,
    facts([
      ["Entrypoint", list(c.Entrypoint)],
      ["Command", list(c.Cmd)],
      ["Working directory", c.WorkingDir ? h("code", null, c.WorkingDir) : null],
      ["User", c.User ? h("code", null, c.User) : null],
      ["Exposed ports", ports.length ? h("ul", { class: "plain" }, ports.map((p) => h("li", null, h("code", null, p)))) : null],
      ["Volumes", Object.keys(c.Volumes ?? {}).length ? h("ul", { class: "plain" }, Object.keys(c.Volumes ?? {}).map((v) => h("li", null, h("code", null, v)))) : null],
      ["Stop signal", c.StopSignal ?? null],
      ["Environment", env.length ? h("ul", { class: "plain" }, env.map((e) => h("li", null, h("code", null, e)))) : null],
      ["Author", cfg.author ?? null],
    ]),
    Object.keys(labels).length ? [h("h3", null, "Labels"), kvTable(labels, "Labels")] : null,
    history.length
      ? [
          h("h3", null, `History (${history.length})`),
          h(
            "div",
            { class: "scroll" },
            h(
              "table",
              { class: "cards" },
              h("caption", { class: "sr-only" }, "Build history"),
              h("thead", null, h("tr", null, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Created by"), h("th", { scope: "col" }, "Layer"))),
              h(
                "tbody",
                null,
                history.map((s, i) =>
                  h(
                    "tr",
                    null,
                    h("td", { "data-label": "Step" }, String(i + 1)),
                    h("td", { "data-label": "Created" }, time(s.created)),
                    h("td", { "data-label": "Created by", class: "wrap" }, h("code", null, s.created_by ?? ""), s.comment ? h("span", { class: "muted" }, ` ${s.comment}`) : null),
                    h("td", { "data-label": "Layer" }, s.empty_layer ? "none" : "yes"),
                  ),
                ),
              ),
            ),
          ),
        ]
      : null,
  );
}

/**
 * The platforms of an index, each a link to its manifest, with each child's size.
 * @param {import("./app.js").ViewContext} ctx @param {string} repo @param {import("./api.js").Descriptor[]} kids
 */
async function platformsPanel(ctx, repo, kids) {
  const sizes = kids.map(() => h("td", { "data-label": "Size", class: "num" }, "…"));
  const p = panel(
    "plat-h",
    `Platforms (${kids.length})`,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "cards" },
        h("caption", { class: "sr-only" }, "Manifests of this index"),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Platform"), h("th", { scope: "col" }, "Digest"), h("th", { scope: "col" }, "Media type"), h("th", { scope: "col", class: "num" }, "Size"))),
        h(
          "tbody",
          null,
          kids.map((d, i) =>
            h(
              "tr",
              null,
              h("td", { "data-label": "Platform" }, h("a", { href: `#/r/${repo}@${d.digest}` }, platformName(d.platform) || d.artifactType || "(no platform)")),
              h("td", { "data-label": "Digest" }, digestCell(d.digest)),
              h("td", { "data-label": "Media type", class: "wrap" }, h("code", null, d.mediaType)),
              sizes[i],
            ),
          ),
        ),
      ),
    ),
  );
  // Sizes of the children (a few manifests; their layers are not read).
  void mapLimit(kids, 4, async (d, i) => {
    try {
      const child = await ctx.registry.manifest(repo, d.digest, ctx.signal);
      replace(/** @type {HTMLElement} */ (sizes[i]), isIndex(child.mediaType) ? bytes(d.size) : bytes(imageSize(child.manifest)));
    } catch {
      replace(/** @type {HTMLElement} */ (sizes[i]), "—");
    }
  });
  return p;
}

/** @param {import("./app.js").ViewContext} ctx @param {string} repo @param {string} digest @param {HTMLElement} target */
async function fillReferrers(ctx, repo, digest, target) {
  const heading = /** @type {HTMLElement} */ (target.firstChild);
  let refs;
  try {
    refs = await ctx.registry.referrers(repo, digest, ctx.signal);
  } catch (e) {
    if (!ctx.signal.aborted) replace(target, heading, errorNotice(e, ctx.registry));
    return;
  }
  if (ctx.signal.aborted) return;
  heading.textContent = `Referrers (${refs.length})`;
  if (refs.length === 0) {
    replace(target, heading, h("p", { class: "muted" }, "Nothing refers to this manifest: no signature, SBOM or attestation was pushed for it."));
    return;
  }
  replace(
    target,
    heading,
    h("p", { class: "muted" }, "Artifacts whose subject is this manifest: signatures, SBOMs, attestations."),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "cards" },
        h("caption", { class: "sr-only" }, "Referrers"),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Artifact type"), h("th", { scope: "col" }, "Digest"), h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col" }, "Created"))),
        h(
          "tbody",
          null,
          refs.map((r) =>
            h(
              "tr",
              null,
              h("td", { "data-label": "Artifact type", class: "wrap" }, h("a", { href: `#/r/${repo}@${r.digest}` }, h("code", null, r.artifactType || r.mediaType))),
              h("td", { "data-label": "Digest" }, digestCell(r.digest)),
              h("td", { "data-label": "Size", class: "num" }, bytes(r.size)),
              h("td", { "data-label": "Created" }, time(r.annotations?.["org.opencontainers.image.created"])),
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * Deleting the tag (when the page is a tag's) or the manifest, after a confirmation that says what goes.
 * @param {import("./app.js").ViewContext} ctx @param {string} repo @param {string | null} tag @param {string} digest
 */
async function deletePanel(ctx, repo, tag, digest) {
  const { registry } = ctx;
  const out = h("div", { "aria-live": "polite" });
  const may = await registry.mayDelete(repo).catch(() => null);
  if (may === false) {
    const why = registry.user ? `${registry.user} may not delete in ${repo}.` : "Sign in to delete, if your account may.";
    return panel("del-h", "Delete", h("p", { class: "muted" }, why));
  }
  /** @param {string} ref @param {string} title @param {unknown[]} body @param {string} done */
  const attempt = async (ref, title, body, done) => {
    replace(out);
    const ok = await confirmDialog({ title, body, confirmLabel: "Delete" });
    if (!ok) return;
    try {
      await registry.remove(repo, ref);
    } catch (e) {
      replace(out, errorNotice(e, registry, "Not deleted. "));
      return;
    }
    ctx.flash(done);
    ctx.go(`#/r/${repo}`);
  };
  const buttons = h("div", { class: "actions" });
  if (tag !== null) {
    buttons.appendChild(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: () =>
            attempt(
              tag,
              `Delete tag ${tag}?`,
              [
                h("p", null, "The tag ", h("strong", null, `${repo}:${tag}`), " will be removed."),
                h("p", null, "The manifest ", h("code", null, shortDigest(digest)), " stays in the repository: pulls by digest and by its other tags keep working."),
              ],
              `Tag ${tag} was deleted from ${repo}.`,
            ),
        },
        `Delete tag ${tag}…`,
      ),
    );
  }
  buttons.appendChild(
    h(
      "button",
      {
        type: "button",
        class: "danger",
        onclick: () =>
          attempt(
            digest,
            "Delete this manifest?",
            [
              h("p", null, "The manifest ", h("code", null, digest), " will be removed from ", h("strong", null, repo), ", with every tag that points to it", tag ? [" (", h("strong", null, tag), " and any other)"] : "", "."),
              h("p", null, "Pulls by its digest and by those tags will fail. This cannot be undone."),
            ],
            `Manifest ${shortDigest(digest)} was deleted from ${repo}.`,
          ),
      },
      "Delete manifest…",
    ),
  );
  return panel("del-h", "Delete", h("p", { class: "muted" }, tag ? "Remove the tag, or the manifest and every tag pointing to it." : "Remove the manifest and every tag pointing to it."), buttons, out);
}
