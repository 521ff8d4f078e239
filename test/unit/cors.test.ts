// Unit tests of src/http/cors.ts: which requests get CORS headers (listed origins on /v2/ only), what a
// preflight answers, and that every other request is left exactly as it was; and the front door (http/ui.ts):
// which requests are the UI's (reads of its files) and which the registry's (everything else).
import { describe, expect, it } from "vitest";
import { ALLOW_HEADERS, corsDecision, isApiPath, preflightResponse, withCors } from "../../src/http/cors";
import { withUi } from "../../src/http/ui";

const cfg = { corsOrigins: ["https://ui.example.com", "http://127.0.0.1:8080"] };

describe("corsDecision", () => {
  it("answers a preflight from a listed origin on /v2/ here", () => {
    expect(corsDecision(cfg, "OPTIONS", "/v2/team/app/tags/list", "https://ui.example.com", "GET")).toEqual({ kind: "preflight", origin: "https://ui.example.com" });
    expect(corsDecision(cfg, "OPTIONS", "/v2/", "http://127.0.0.1:8080", "DELETE")).toEqual({ kind: "preflight", origin: "http://127.0.0.1:8080" });
    expect(corsDecision(cfg, "OPTIONS", "/v2", "http://127.0.0.1:8080", "GET").kind).toBe("preflight");
  });

  it("marks other requests from a listed origin for the headers", () => {
    expect(corsDecision(cfg, "GET", "/v2/_catalog", "https://ui.example.com", null)).toEqual({ kind: "actual", origin: "https://ui.example.com" });
    // OPTIONS without Access-Control-Request-Method is not a preflight: the registry answers it (405).
    expect(corsDecision(cfg, "OPTIONS", "/v2/x/tags/list", "https://ui.example.com", null).kind).toBe("actual");
  });

  it("gives nothing to other origins, to requests without Origin, and outside /v2/", () => {
    expect(corsDecision(cfg, "OPTIONS", "/v2/x/tags/list", "https://evil.example.com", "GET")).toEqual({ kind: "none" });
    expect(corsDecision(cfg, "OPTIONS", "/v2/x/tags/list", "https://ui.example.com.evil.example", "GET").kind).toBe("none");
    expect(corsDecision(cfg, "OPTIONS", "/v2/x/tags/list", "http://ui.example.com", "GET").kind).toBe("none");
    expect(corsDecision(cfg, "OPTIONS", "/v2/x/tags/list", "null", "GET").kind).toBe("none");
    expect(corsDecision(cfg, "GET", "/v2/", null, null).kind).toBe("none");
    expect(corsDecision(cfg, "GET", "/token", "https://ui.example.com", null).kind).toBe("none");
    expect(corsDecision(cfg, "OPTIONS", "/", "https://ui.example.com", "GET").kind).toBe("none");
    expect(corsDecision(cfg, "GET", "/v2x", "https://ui.example.com", null).kind).toBe("none");
  });

  it("is off without BERTH_CORS_ORIGINS", () => {
    expect(corsDecision({ corsOrigins: [] }, "OPTIONS", "/v2/", "https://ui.example.com", "GET").kind).toBe("none");
  });

  it("knows the API's paths", () => {
    expect(isApiPath("/v2")).toBe(true);
    expect(isApiPath("/v2/")).toBe(true);
    expect(isApiPath("/v2/_berth/ext/blobs/a/sha256:x")).toBe(true);
    expect(isApiPath("/v20")).toBe(false);
    expect(isApiPath("/")).toBe(false);
  });
});

describe("preflightResponse", () => {
  it("is 204 with every header a browser UI needs", () => {
    const res = preflightResponse({ kind: "preflight", origin: "https://ui.example.com" });
    expect(res?.status).toBe(204);
    const h = res!.headers;
    expect(h.get("Access-Control-Allow-Origin")).toBe("https://ui.example.com");
    expect(h.get("Access-Control-Allow-Methods")).toMatch(/\bDELETE\b/);
    expect(h.get("Access-Control-Allow-Methods")).toMatch(/\bPATCH\b/);
    for (const name of ["Authorization", "Content-Type", "Accept", "Range", "Content-Range"]) expect(ALLOW_HEADERS).toContain(name);
    const exposed = h.get("Access-Control-Expose-Headers") ?? "";
    for (const name of ["Docker-Content-Digest", "Link", "Location", "Range", "WWW-Authenticate", "Docker-Distribution-API-Version", "OCI-Chunk-Min-Length", "OCI-Subject"]) {
      expect(exposed).toContain(name);
    }
    expect(Number(h.get("Access-Control-Max-Age"))).toBeGreaterThan(0);
    expect(h.get("Vary")).toBe("Origin");
  });

  it("is null for anything but an allowed preflight", () => {
    expect(preflightResponse({ kind: "none" })).toBeNull();
    expect(preflightResponse({ kind: "actual", origin: "https://ui.example.com" })).toBeNull();
  });
});

describe("withCors", () => {
  it("adds Allow-Origin, Expose-Headers and Vary to an answer for a listed origin, keeping the rest", async () => {
    const res = new Response("{}", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="x"', Vary: "Accept" } });
    const out = withCors({ kind: "actual", origin: "https://ui.example.com" }, res);
    expect(out.status).toBe(401);
    expect(out.headers.get("Access-Control-Allow-Origin")).toBe("https://ui.example.com");
    expect(out.headers.get("Access-Control-Expose-Headers")).toContain("WWW-Authenticate");
    expect(out.headers.get("Vary")).toBe("Accept, Origin");
    expect(out.headers.get("WWW-Authenticate")).toBe('Bearer realm="x"');
    expect(await out.text()).toBe("{}");
  });

  it("leaves other answers untouched", () => {
    const res = new Response("x");
    expect(withCors({ kind: "none" }, res)).toBe(res);
  });
});

describe("withUi (the Worker's front door)", () => {
  const files = new Set(["/", "/app.js"]);
  const assets = {
    fetch: async (req: Request) => {
      const p = new URL(req.url).pathname;
      return files.has(p) ? new Response(`asset ${p}`, { headers: { "Content-Type": "text/html" } }) : new Response("not found", { status: 404 });
    },
  };
  const inner = {
    fetch: async (req: Request, _env: Record<string, unknown>, _ctx: unknown) =>
      new Response(`registry ${new URL(req.url).pathname}`, { status: new URL(req.url).pathname.startsWith("/v2") ? 200 : 404 }),
    scheduled: async () => undefined,
  };
  const front = withUi(inner);
  const ctx = {};
  const call = async (path: string, env: Record<string, unknown>, init: RequestInit = {}) => {
    const res = await front.fetch(new Request(`https://registry.example.com${path}`, init), env, ctx);
    return { res, body: await res.text() };
  };

  it("serves the UI outside /v2/ from the assets, with the UI's security headers", async () => {
    const { res, body } = await call("/", { ASSETS: assets });
    expect(body).toBe("asset /");
    expect(res.headers.get("Content-Security-Policy")).toMatch(/default-src 'none'/);
    expect(res.headers.get("X-Frame-Options")).toBe("DENY");
    expect((await call("/app.js", { ASSETS: assets })).body).toBe("asset /app.js");
  });

  it("leaves /v2/, and every path the UI has no file for, to the registry", async () => {
    expect((await call("/v2/", { ASSETS: assets })).body).toBe("registry /v2/");
    expect((await call("/v2/team/app/tags/list", { ASSETS: assets })).body).toBe("registry /v2/team/app/tags/list");
    expect((await call("/token", { ASSETS: assets })).body).toBe("registry /token");
    expect((await call("/health", { ASSETS: assets })).body).toBe("registry /health");
    expect((await call("/no/such/file", { ASSETS: assets })).res.status).toBe(404);
    // Only reads are the UI's: a POST to a UI path is the registry's.
    expect((await call("/", { ASSETS: assets }, { method: "POST", body: "x" })).body).toBe("registry /");
  });

  it("with BERTH_UI=false, or no ASSETS binding, everything is the registry's (404 outside /v2/)", async () => {
    const off = await call("/", { ASSETS: assets, BERTH_UI: "false" });
    expect([off.res.status, off.body]).toEqual([404, "registry /"]);
    expect((await call("/", {})).body).toBe("registry /");
  });

  it("answers preflights from listed origins and adds CORS headers to their answers, on /v2/ only", async () => {
    const env = { ASSETS: assets, BERTH_CORS_ORIGINS: "https://ui.example.com" };
    const pre = await call("/v2/x/tags/list", env, { method: "OPTIONS", headers: { Origin: "https://ui.example.com", "Access-Control-Request-Method": "GET" } });
    expect([pre.res.status, pre.body]).toEqual([204, ""]);
    expect(pre.res.headers.get("Access-Control-Allow-Origin")).toBe("https://ui.example.com");
    const get = await call("/v2/", env, { headers: { Origin: "https://ui.example.com" } });
    expect(get.body).toBe("registry /v2/");
    expect(get.res.headers.get("Access-Control-Allow-Origin")).toBe("https://ui.example.com");
    const other = await call("/v2/", env, { headers: { Origin: "https://other.example.com" } });
    expect(other.res.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect((await call("/", env, { headers: { Origin: "https://ui.example.com" } })).res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("hands a bad setting to the registry, which reports it naming the setting", async () => {
    expect((await call("/", { ASSETS: assets, BERTH_CORS_ORIGINS: "not an origin" })).body).toBe("registry /");
  });

  it("keeps the wrapped handler's other entry points", () => {
    expect(front.scheduled).toBe(inner.scheduled);
  });
});
