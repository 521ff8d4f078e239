// A real browser for the web UI's end-to-end test: Debian's chromium (installed by scripts/install-deps.sh
// chromium when missing; never downloaded) driven by playwright-core, pages at desktop and phone size in light
// or dark mode, screenshots kept under test-results/ui/, axe-core injected into the page for an accessibility
// check, and a log of the registry requests a page made. Free of assertions.
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { run } from "./fixtures.js";

// Browser globals used inside page.evaluate callbacks (the test project has no DOM lib).
declare const window: unknown;
declare const document: unknown;
type Document = unknown;

export const CHROMIUM = "/usr/bin/chromium";
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const SHOTS = path.join(PROJECT_ROOT, "test-results", "ui");

/** Installs Debian's chromium with the project's script when it is missing. */
export async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  const r = await run("bash", [path.join(PROJECT_ROOT, "scripts/install-deps.sh"), "chromium"], { timeoutMs: 900_000 });
  if (r.code !== 0 || !existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing; scripts/install-deps.sh chromium failed:\n${r.stderr.slice(-3000)}`);
}

/**
 * Launches headless Chromium. Playwright gives it a fresh --user-data-dir of its own; the flags keep it from
 * calling home (component updates, sync, safe browsing…), which on a closed network would only time out.
 */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
}

export type Size = "desktop" | "phone";

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Paths (with query) of every request the page sent to `base`, in order. */
  requests: string[];
  /** Uncaught page errors and console errors, to fail on. */
  errors: string[];
}

/** A new context and page at desktop (1280x800) or phone (390x844, touch) size, light or dark. */
export async function open(browser: Browser, base: string, opts: { size?: Size; dark?: boolean } = {}): Promise<Opened> {
  const phone = opts.size === "phone";
  const context = await browser.newContext({
    viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
    isMobile: phone,
    hasTouch: phone,
    deviceScaleFactor: 1,
    colorScheme: opts.dark ? "dark" : "light",
    reducedMotion: "reduce",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    if (r.url().startsWith(base)) {
      const u = new URL(r.url());
      requests.push(`${r.method()} ${decodeURIComponent(u.pathname)}${u.search}`);
    }
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // A failed fetch the UI handled (401/403/404 shown as a message) is logged by Chromium as an error: not ours.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { context, page, requests, errors };
}

/** A full-page screenshot under test-results/ui/<name>.png. */
export async function shot(page: Page, name: string): Promise<string> {
  await mkdir(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  return file;
}

let axeSource: string | undefined;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the UI's CSP stays on) against WCAG
 * 2.1 A/AA and best practices; returns every violation with its impact.
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  axeSource ??= await readFile(path.join(PROJECT_ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const a = (window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await a.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] }, resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  });
}

/** The violations that fail the test: serious and critical. */
export function serious(v: AxeViolation[]): AxeViolation[] {
  return v.filter((x) => x.impact === "serious" || x.impact === "critical");
}
