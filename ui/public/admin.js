// @ts-check
// Administration panels. Administrators will see the last garbage-collection report and the notification dead
// letters here once those features exist; until then the list is empty and nothing shows. A panel decides
// whether the caller sees it (`visible`) and renders itself (`render`) from Berth's /v2/_berth/ext/ routes;
// the header shows "Administration" (route #/admin) only when some panel is visible.

/**
 * @typedef {{ id: string, title: string,
 *   visible: (registry: import("./api.js").Registry) => boolean,
 *   render: (ctx: import("./app.js").ViewContext) => Promise<HTMLElement> }} AdminPanel
 */

/** @type {AdminPanel[]} */
export const adminPanels = [];
