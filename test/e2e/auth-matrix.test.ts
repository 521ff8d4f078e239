// The security matrix of authentication and access control, end to end over HTTP against wrangler dev + Swift.
// Four Berth instances, started together: `token` mode (Berth's own token endpoint, htpasswd users made here
// with bcryptjs, a signing key made here with WebCrypto), `htpasswd` mode (Basic), REGISTRY_AUTH unset (an empty
// value, sharing the htpasswd instance's bucket root so it has something to serve), and `token` mode trusting an
// external issuer only (the openssl-made keys of test/fixtures/auth, by JWKS and by certificate bundle).
// Every case asserts the exact status, the error code and the WWW-Authenticate challenge where there is one:
// no credentials, wrong password, unknown user, tokens for another repository or action, expired, tampered,
// `alg: none`, wrong audience or issuer, untrusted keys, the token endpoint's narrowing and OAuth2 form with
// refresh, a mount from a repository the caller cannot read (202 and no link in the bucket), an upload session
// used through another repository (404, nothing written), catalog filtering per caller, and finally that no
// response body and no Berth log line holds a password, an Authorization value or a token.
import type { webcrypto } from "node:crypto";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBerth, type Berth } from "./harness/berth.js";
import { listKeys } from "./harness/s3.js";
import { PROJECT_ROOT } from "./harness/tools.js";

type CryptoKey = webcrypto.CryptoKey;
type Json = Record<string, unknown>;
type CallInit = RequestInit & { auth?: string; headers?: Record<string, string> };

const RUN = randomBytes(4).toString("hex");
const ROOT = `t-auth-matrix-${RUN}`;
const FAIL_DELAY_MS = 200;
const TOKEN_TTL_S = 120; // BERTH_AUTH_TOKEN_TTL of the token instance (default 5m)
const HT_REALM = `Berth E2E ${RUN}`;
const EXT = { issuer: `e2e-external-${RUN}`, service: `berth-ext-${RUN}`, realm: `https://auth.invalid/token/${RUN}` };

const PW: Record<string, string> = { alice: `alice-pw-${RUN}`, bob: `bob-pw-${RUN}`, carol: `carol-pw-${RUN}` };
type User = "alice" | "bob" | "carol";

const REPO = {
  team: `team/app-${RUN}`,
  pub: `public/tool-${RUN}`,
  secret: `secret/vault-${RUN}`,
  carol: `carol/own-${RUN}`,
  dst: `carol/dst-${RUN}`,
  drop: `drop/box-${RUN}`,
};

// The README's shape: a team with push rights on team/*, public pull of public/**, alice alone on secret/**,
// carol alone on carol/**, bob creating (not updating) in drop/*, and read for every authenticated user elsewhere.
const ACCESS = JSON.stringify({
  groups: { team: { users: ["alice", "bob"] } },
  repositories: {
    "team/*": { policies: [{ groups: ["team"], actions: ["read", "create", "update", "delete"] }], defaultPolicy: ["read"] },
    "public/**": { policies: [{ users: ["alice"], actions: ["read", "create", "update"] }], anonymousPolicy: ["read"], defaultPolicy: ["read"] },
    "secret/**": { policies: [{ users: ["alice"], actions: ["read", "create", "update", "delete"] }] },
    "carol/**": { policies: [{ users: ["carol"], actions: ["read", "create", "update", "delete"] }] },
    "drop/*": { policies: [{ users: ["bob"], actions: ["read", "create"] }] }, // new tags, never moved
    "**": { defaultPolicy: ["read"] },
  },
});

// What each caller may see in the catalog (each of REPO's repositories holds an image).
const CATALOG: Record<User | "anonymous", string[]> = {
  alice: [REPO.pub, REPO.secret, REPO.team].sort(),
  bob: [REPO.drop, REPO.pub, REPO.team].sort(),
  carol: [REPO.carol, REPO.dst, REPO.pub, REPO.team].sort(),
  anonymous: [REPO.pub],
};

interface Inst {
  berth: Berth;
  url: string;
  host: string;
  root: string;
}
let T: Inst; // token mode, Berth's own tokens
let H: Inst; // htpasswd mode
let U: Inst; // REGISTRY_AUTH unset (same root as H)
let X: Inst; // token mode, external issuer only

let berthKey: CryptoKey; // Berth's signing key (T), made here
let berthPem: string;
let berthKid: string;
let extEc: { key: CryptoKey; kid: string };
let extRsa: { key: CryptoKey; certB64: string };

// ---- recording HTTP --------------------------------------------------------------------------------------

interface Res {
  status: number;
  headers: Headers;
  text: string;
  ms: number;
}
interface Seen {
  what: string;
  status: number;
  text: string;
}
const seen: Seen[] = [];
const authValues = new Set<string>(); // every Authorization value sent
const tokens = new Set<string>(); // every token obtained or forged

async function call(base: string, p: string, init: CallInit = {}): Promise<Res> {
  const { auth, headers = {}, ...rest } = init;
  const h: Record<string, string> = { ...headers };
  if (auth !== undefined) {
    h.Authorization = auth;
    authValues.add(auth);
  }
  const t0 = performance.now();
  const res = await fetch(base + p, { redirect: "manual", signal: AbortSignal.timeout(30_000), ...rest, headers: h });
  const text = await res.text();
  const ms = performance.now() - t0;
  seen.push({ what: `${rest.method ?? "GET"} ${base}${p}`, status: res.status, text });
  return { status: res.status, headers: res.headers, text, ms };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const login = (user: User) => basic(user, PW[user]!);
const bearer = (token: string) => `Bearer ${token}`;

interface Refusal {
  status: number;
  code: string | undefined;
  message: string | undefined;
  challenge: string | null;
  detail?: unknown;
}
function refusal(r: Res): Refusal {
  let body: { errors?: { code?: string; message?: string; detail?: unknown }[] } = {};
  try {
    body = JSON.parse(r.text) as typeof body;
  } catch {
    // HEAD, or not an error body: code stays undefined
  }
  const e = body.errors?.[0];
  const out: Refusal = { status: r.status, code: e?.code, message: e?.message, challenge: r.headers.get("www-authenticate") };
  if (e?.detail !== undefined) out.detail = e.detail;
  return out;
}

// ---- challenges -------------------------------------------------------------------------------------------

function bearerChallenge(inst: Inst, opts: { scope?: string; error?: string; realm?: string; service?: string } = {}): string {
  let c = `Bearer realm="${opts.realm ?? `${inst.url}/token`}",service="${opts.service ?? inst.host}"`;
  if (opts.scope) c += `,scope="${opts.scope}"`;
  if (opts.error) c += `,error="${opts.error}"`;
  return c;
}
const basicChallenge = `Basic realm="${HT_REALM}"`;
const repoDetail = (name: string, action: string) => [{ Type: "repository", Name: name, Action: action }];

// ---- JWTs -------------------------------------------------------------------------------------------------

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Json;

async function jwt(header: Json, claims: Json, key?: CryptoKey): Promise<string> {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  if (!key) return `${input}.`;
  const params = String(header.alg).startsWith("ES") ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" };
  const sig = new Uint8Array(await crypto.subtle.sign(params, key, new TextEncoder().encode(input)));
  const t = `${input}.${b64u(sig)}`;
  tokens.add(t);
  return t;
}

function pemDer(pem: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} in PEM`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
}
const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
const fixture = (name: string) => readFileSync(path.join(PROJECT_ROOT, "test/fixtures/auth", name), "utf8");

async function newEcKey(): Promise<webcrypto.CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

/** RFC 7638 thumbprint of an EC public key. */
function ecThumbprint(jwk: webcrypto.JsonWebKey): string {
  return b64u(createHash("sha256").update(JSON.stringify({ crv: jwk.crv, kty: "EC", x: jwk.x, y: jwk.y })).digest());
}

const nowS = () => Math.floor(Date.now() / 1000);

/** Claims of a token Berth (T) would accept for `access`, minus whatever `extra` overrides. */
function berthClaims(sub: string, access: unknown[], extra: Json = {}): Json {
  const iat = nowS();
  return { iss: "berth", sub, aud: T.host, iat, nbf: iat, exp: iat + 300, jti: randomBytes(8).toString("hex"), access, ...extra };
}

// ---- token endpoint (T) -----------------------------------------------------------------------------------

async function tokenRes(user: User | null, scopes: string[], password?: string): Promise<Res> {
  const q = new URLSearchParams({ service: T.host });
  for (const s of scopes) q.append("scope", s);
  const auth = user === null ? undefined : basic(user, password ?? PW[user]!);
  return call(T.url, `/token?${q}`, auth === undefined ? {} : { auth });
}

async function token(user: User | null, scopes: string[]): Promise<string> {
  const r = await tokenRes(user, scopes);
  expect(r.status, r.text).toBe(200);
  const t = (JSON.parse(r.text) as { token: string }).token;
  tokens.add(t);
  return t;
}

// ---- images -----------------------------------------------------------------------------------------------

const digestOf = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

interface Pushed {
  manifest: string;
  layer: string;
  config: string;
}

/** Pushes a one-layer image (tag v1) with raw requests; every step must succeed. */
async function pushImage(base: string, repo: string, auth: string | undefined): Promise<Pushed> {
  const img = await pushBlobs(base, repo, auth);
  const r = await call(base, `/v2/${repo}/manifests/v1`, {
    method: "PUT",
    body: img.json,
    headers: { "Content-Type": OCI_MANIFEST },
    ...(auth ? { auth } : {}),
  });
  expect(r.status, `manifest push to ${repo}: ${r.text}`).toBe(201);
  return img;
}

/** Pushes a new one-layer image's blobs; returns them and its manifest (not pushed). */
async function pushBlobs(base: string, repo: string, auth: string | undefined): Promise<Pushed & { json: string }> {
  const layer = randomBytes(1024);
  const config = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(layer)] } });
  for (const blob of [layer, new TextEncoder().encode(config)]) {
    const r = await call(base, `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: "POST",
      body: blob,
      headers: { "Content-Type": "application/octet-stream" },
      ...(auth ? { auth } : {}),
    });
    expect(r.status, `blob push to ${repo}: ${r.text}`).toBe(201);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digestOf(layer), size: layer.length }],
  });
  return { manifest: digestOf(manifest), layer: digestOf(layer), config: digestOf(config), json: manifest };
}

const repoPrefix = (inst: Inst, repo: string) => `${inst.root}/docker/registry/v2/repositories/${repo}/`;
const blobPrefix = (inst: Inst, digest: string) => {
  const hex = digest.slice("sha256:".length);
  return `${inst.root}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/`;
};

const imagesT: Record<string, Pushed> = {};
const imagesH: Record<string, Pushed> = {};

// ---- set-up -----------------------------------------------------------------------------------------------

async function inst(root: string, vars: Record<string, string>): Promise<Inst> {
  const berth = await startBerth({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: root, ...vars });
  return { berth, url: berth.url, host: new URL(berth.url).host, root };
}

beforeAll(async () => {
  const htpasswd = Object.entries(PW)
    .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`)
    .join("\n");

  const kp = await newEcKey();
  berthKey = kp.privateKey;
  berthKid = ecThumbprint(await crypto.subtle.exportKey("jwk", kp.publicKey));
  berthPem = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", kp.privateKey));

  // The external issuer: its EC key published as a JWKS (with a kid), its RSA key as a certificate.
  const ecPriv = await crypto.subtle.importKey("pkcs8", pemDer(fixture("issuer-ec.key"), "PRIVATE KEY"), { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const ecJwk = await crypto.subtle.exportKey("jwk", ecPriv);
  extEc = { key: ecPriv, kid: `ext-ec-${RUN}` };
  const jwks = JSON.stringify({ keys: [{ kty: "EC", crv: ecJwk.crv, x: ecJwk.x, y: ecJwk.y, kid: extEc.kid, use: "sig", alg: "ES256" }] });
  const rsaPriv = await crypto.subtle.importKey("pkcs8", pemDer(fixture("issuer-rsa.key"), "PRIVATE KEY"), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
  const rsaCert = fixture("issuer-rsa.crt");
  extRsa = { key: rsaPriv, certB64: Buffer.from(pemDer(rsaCert, "CERTIFICATE")).toString("base64") };

  const common = { REGISTRY_AUTH_HTPASSWD: htpasswd, REGISTRY_ACCESSCONTROL: ACCESS, BERTH_AUTH_FAIL_DELAY: `${FAIL_DELAY_MS}ms` };
  [T, H, U, X] = await Promise.all([
    inst(`${ROOT}-token`, { REGISTRY_AUTH: "token", BERTH_AUTH_TOKEN_KEY: berthPem, BERTH_AUTH_TOKEN_TTL: "2m", ...common }),
    inst(`${ROOT}-htpasswd`, { REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD_REALM: HT_REALM, ...common }),
    // An empty REGISTRY_AUTH counts as unset (config/auth.ts trims, blank = unset); no policy either.
    inst(`${ROOT}-htpasswd`, { REGISTRY_AUTH: "" }),
    inst(`${ROOT}-ext`, {
      REGISTRY_AUTH: "token",
      REGISTRY_AUTH_TOKEN_ISSUER: EXT.issuer,
      REGISTRY_AUTH_TOKEN_SERVICE: EXT.service,
      REGISTRY_AUTH_TOKEN_REALM: EXT.realm,
      REGISTRY_AUTH_TOKEN_JWKS: jwks,
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: rsaCert,
    }),
  ]);

  // One image in each repository, pushed by who may: alice everywhere but carol/**, carol there.
  const owner = (repo: string): User => (repo.startsWith("carol/") ? "carol" : repo.startsWith("drop/") ? "bob" : "alice");
  const repos = Object.values(REPO);
  await Promise.all(
    repos.map(async (repo) => {
      const t = await token(owner(repo), [`repository:${repo}:pull,push`]);
      imagesT[repo] = await pushImage(T.url, repo, bearer(t));
      imagesH[repo] = await pushImage(H.url, repo, login(owner(repo)));
    }),
  );
});

afterAll(async () => {
  await Promise.all([T, H, U, X].map((i) => i?.berth.stop()));
});

function logsOf(i: Inst): string {
  return `\n--- wrangler (last 3 KB)\n${i.berth.logs().slice(-3000)}`;
}

// ---- token mode -------------------------------------------------------------------------------------------

describe("token mode: challenges", () => {
  it("GET and HEAD /v2/ without credentials: 401 UNAUTHORIZED with the Bearer challenge (realm Berth's /token, service the host)", async () => {
    const r = await call(T.url, "/v2/");
    expect(refusal(r)).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge: bearerChallenge(T) });
    const h = await call(T.url, "/v2/", { method: "HEAD" });
    expect([h.status, h.headers.get("www-authenticate"), h.text]).toEqual([401, bearerChallenge(T), ""]);
  });

  it("a pull or push without a token: 401 whose challenge names the scope needed; Basic is not taken on /v2/", async () => {
    const pull = await call(T.url, `/v2/${REPO.secret}/manifests/v1`);
    expect(refusal(pull)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "authentication required",
      challenge: bearerChallenge(T, { scope: `repository:${REPO.secret}:pull` }),
      detail: repoDetail(REPO.secret, "pull"),
    });
    // Even a public repository: clients need an (anonymous) token first.
    const pub = await call(T.url, `/v2/${REPO.pub}/manifests/v1`);
    expect(refusal(pub)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: bearerChallenge(T, { scope: `repository:${REPO.pub}:pull` }) });
    const push = await call(T.url, `/v2/${REPO.team}/blobs/uploads/`, { method: "POST" });
    expect(refusal(push)).toMatchObject({
      status: 401,
      code: "UNAUTHORIZED",
      challenge: bearerChallenge(T, { scope: `repository:${REPO.team}:pull,push` }),
      detail: repoDetail(REPO.team, "push"),
    });
    const del = await call(T.url, `/v2/${REPO.team}/manifests/${imagesT[REPO.team]!.manifest}`, { method: "DELETE" });
    expect(refusal(del)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: bearerChallenge(T, { scope: `repository:${REPO.team}:delete` }) });
    // Right Basic credentials straight on /v2/: ignored in token mode (as Distribution), so the challenge again.
    for (const p of ["/v2/", `/v2/${REPO.team}/manifests/v1`]) {
      const r = await call(T.url, p, { auth: login("alice") });
      expect([r.status, refusal(r).code, r.headers.get("www-authenticate")?.startsWith("Bearer realm=")]).toEqual([401, "UNAUTHORIZED", true]);
    }
  });
});

describe("token mode: the token endpoint", () => {
  it("GET with Basic: a token whose access claim is narrowed to what the policy grants", async () => {
    const scopes = [
      `repository:${REPO.team}:pull,push,delete`, // carol may only read team/*
      `repository:${REPO.secret}:pull`, // nothing: dropped
      `repository:${REPO.carol}:*`, // hers: * expanded to what she holds
      `repository:${REPO.pub}:pull,push`, // read only
      "registry:catalog:*",
    ];
    const t0 = nowS();
    const r = await tokenRes("carol", scopes);
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const body = JSON.parse(r.text) as { token: string; access_token: string; expires_in: number; issued_at: string; refresh_token?: string };
    tokens.add(body.token);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(TOKEN_TTL_S);
    expect(body.refresh_token).toBeUndefined(); // only with offline_token=true
    expect(body.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const [h, c] = body.token.split(".");
    expect(decode(h!)).toEqual({ typ: "JWT", alg: "ES256", kid: berthKid });
    const claims = decode(c!);
    expect(claims.access).toEqual([
      { type: "repository", name: REPO.team, actions: ["pull"] },
      { type: "repository", name: REPO.carol, actions: ["pull", "push", "delete"] },
      { type: "repository", name: REPO.pub, actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
    expect(claims).toMatchObject({ iss: "berth", sub: "carol", aud: T.host });
    expect(Math.abs((claims.iat as number) - t0)).toBeLessThanOrEqual(5);
    expect([claims.nbf, claims.exp]).toEqual([claims.iat, (claims.iat as number) + TOKEN_TTL_S]);
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(new Date(body.issued_at).getTime() / 1000).toBe(claims.iat);

    // What the token says is what it does.
    const ok = await call(T.url, `/v2/${REPO.team}/manifests/v1`, { method: "HEAD", auth: bearer(body.token) });
    expect([ok.status, ok.headers.get("docker-content-digest")]).toEqual([200, imagesT[REPO.team]!.manifest]);

    // Another service than Berth's: 400, and no token.
    const other = await call(T.url, `/token?service=elsewhere&scope=repository:${REPO.pub}:pull`, { auth: login("carol") });
    expect(refusal(other)).toMatchObject({ status: 400, code: "UNSUPPORTED" });
  });

  it("anonymous GET: a token for public pulls only; private repositories then ask for a login", async () => {
    const r = await tokenRes(null, [`repository:${REPO.pub}:pull,push`, `repository:${REPO.secret}:pull`, `repository:${REPO.team}:pull`]);
    expect(r.status).toBe(200);
    const t = (JSON.parse(r.text) as { token: string }).token;
    tokens.add(t);
    expect(decode(t.split(".")[1]!)).toMatchObject({ sub: "", access: [{ type: "repository", name: REPO.pub, actions: ["pull"] }] });
    const ok = await call(T.url, `/v2/${REPO.pub}/manifests/v1`, { auth: bearer(t), headers: { Accept: OCI_MANIFEST } });
    expect([ok.status, digestOf(ok.text)]).toEqual([200, imagesT[REPO.pub]!.manifest]);
    for (const repo of [REPO.secret, REPO.team]) {
      const no = await call(T.url, `/v2/${repo}/manifests/v1`, { auth: bearer(t) });
      expect(refusal(no)).toEqual({
        status: 401,
        code: "UNAUTHORIZED",
        message: "authentication required",
        challenge: bearerChallenge(T, { scope: `repository:${repo}:pull` }),
        detail: repoDetail(repo, "pull"),
      });
    }
    // An anonymous push where only pull is public: 401 too (logging in could help).
    const push = await call(T.url, `/v2/${REPO.pub}/blobs/uploads/`, { method: "POST", auth: bearer(t) });
    expect(refusal(push)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: bearerChallenge(T, { scope: `repository:${REPO.pub}:pull,push` }) });
  });

  it("wrong password and unknown user: 401 UNAUTHORIZED with a Basic challenge, after the fail delay", async () => {
    const cases: [string, Promise<Res>][] = [
      ["GET wrong password", tokenRes("alice", [`repository:${REPO.team}:pull`], `not-${PW.alice}`)],
      ["GET unknown user", call(T.url, `/token?service=${T.host}&scope=repository:${REPO.team}:pull`, { auth: basic(`mallory${RUN}`, PW.alice!) })],
      ["GET malformed Basic", call(T.url, `/token?service=${T.host}`, { auth: "Basic !!!" })],
      [
        "POST wrong password",
        call(T.url, "/token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "password", username: "bob", password: `not-${PW.bob}`, service: T.host, client_id: "e2e" }).toString(),
        }),
      ],
      [
        "POST unknown user",
        call(T.url, "/token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "password", username: `mallory${RUN}`, password: PW.bob!, service: T.host, client_id: "e2e" }).toString(),
        }),
      ],
    ];
    for (const [what, p] of cases) {
      const r = await p;
      expect(refusal(r), what).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication failed", challenge: 'Basic realm="Berth Registry"' });
      expect(r.ms, `${what}: answered after ${r.ms} ms`).toBeGreaterThanOrEqual(FAIL_DELAY_MS);
      expect(r.text).not.toMatch(/token/i);
    }
  });

  it("OAuth2 POST form: password grant gives access and refresh tokens; the refresh grant renews; neither doubles as the other", async () => {
    const form = (f: Record<string, string>) => ({
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(f).toString(),
    });
    const r = await call(T.url, "/token", form({
      grant_type: "password",
      username: "bob",
      password: PW.bob!,
      service: T.host,
      client_id: "e2e",
      access_type: "offline",
      scope: `repository:${REPO.team}:pull,push repository:${REPO.secret}:pull`,
    }));
    expect(r.status, r.text).toBe(200);
    const body = JSON.parse(r.text) as { access_token: string; token: string; refresh_token: string; scope: string; expires_in: number };
    tokens.add(body.access_token);
    tokens.add(body.refresh_token);
    expect(body.scope).toBe(`repository:${REPO.team}:pull,push`); // secret/* narrowed away
    expect(body.expires_in).toBe(TOKEN_TTL_S);
    expect(decode(body.access_token.split(".")[1]!)).toMatchObject({ sub: "bob", access: [{ type: "repository", name: REPO.team, actions: ["pull", "push"] }] });
    const refreshClaims = decode(body.refresh_token.split(".")[1]!);
    expect(refreshClaims).toMatchObject({ iss: "berth", sub: "bob", aud: `refresh:${T.host}`, berth_use: "refresh" });
    expect((refreshClaims.exp as number) - (refreshClaims.iat as number)).toBe(720 * 3600); // BERTH_AUTH_REFRESH_TTL's default
    const ok = await call(T.url, `/v2/${REPO.team}/blobs/uploads/`, { method: "POST", auth: bearer(body.access_token) });
    expect(ok.status, ok.text).toBe(202);
    expect((await call(T.url, ok.headers.get("location")!, { method: "DELETE", auth: bearer(body.access_token) })).status).toBe(204);

    // Refresh: a new access token for bob, for the scope asked now; the same refresh token back.
    const rr = await call(T.url, "/token", form({ grant_type: "refresh_token", refresh_token: body.refresh_token, service: T.host, client_id: "e2e", scope: `repository:${REPO.pub}:pull` }));
    expect(rr.status, rr.text).toBe(200);
    const renewed = JSON.parse(rr.text) as { access_token: string; refresh_token: string; scope: string };
    tokens.add(renewed.access_token);
    expect(renewed.refresh_token).toBe(body.refresh_token);
    expect(renewed.scope).toBe(`repository:${REPO.pub}:pull`);
    expect(decode(renewed.access_token.split(".")[1]!)).toMatchObject({ sub: "bob", access: [{ type: "repository", name: REPO.pub, actions: ["pull"] }] });
    const pulled = await call(T.url, `/v2/${REPO.pub}/manifests/v1`, { method: "HEAD", auth: bearer(renewed.access_token) });
    expect(pulled.status).toBe(200);

    // A refresh token is no access token, and an access token no refresh token.
    const asBearer = await call(T.url, "/v2/", { auth: bearer(body.refresh_token) });
    expect(refusal(asBearer)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "invalid token: token is meant for another service",
      challenge: bearerChallenge(T, { error: "invalid_token" }),
    });
    const asRefresh = await call(T.url, "/token", form({ grant_type: "refresh_token", refresh_token: body.access_token, service: T.host, client_id: "e2e" }));
    expect(refusal(asRefresh)).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication failed", challenge: 'Basic realm="Berth Registry"' });
    expect(asRefresh.ms).toBeGreaterThanOrEqual(FAIL_DELAY_MS);
    const junk = await call(T.url, "/token", form({ grant_type: "refresh_token", refresh_token: "x.y.z", service: T.host, client_id: "e2e" }));
    expect(refusal(junk)).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    const grant = await call(T.url, "/token", form({ grant_type: "client_credentials", service: T.host }));
    expect(refusal(grant)).toMatchObject({ status: 400, code: "UNSUPPORTED" });
  });
});

describe("token mode: tokens that do not fit", () => {
  it("a token for another repository: 401 insufficient_scope where the policy would allow, 403 DENIED where it would not", async () => {
    const bobTeam = await token("bob", [`repository:${REPO.team}:pull`]);
    const r = await call(T.url, `/v2/${REPO.pub}/manifests/v1`, { auth: bearer(bobTeam) });
    expect(refusal(r)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "the token does not grant this access",
      challenge: bearerChallenge(T, { scope: `repository:${REPO.pub}:pull`, error: "insufficient_scope" }),
      detail: repoDetail(REPO.pub, "pull"),
    });
    const tags = await call(T.url, `/v2/${REPO.pub}/tags/list`, { auth: bearer(bobTeam) });
    expect(refusal(tags)).toMatchObject({ status: 401, challenge: bearerChallenge(T, { scope: `repository:${REPO.pub}:pull`, error: "insufficient_scope" }) });
    // Bob's own repository with that token: fine.
    const own = await call(T.url, `/v2/${REPO.team}/tags/list`, { auth: bearer(bobTeam) });
    expect([own.status, JSON.parse(own.text)]).toEqual([200, { name: REPO.team, tags: ["v1"] }]);
    // Bob asking for secret/* gets nothing; with his team token, the policy says no to a known user: 403.
    const secret = await call(T.url, `/v2/${REPO.secret}/manifests/v1`, { auth: bearer(bobTeam) });
    expect(refusal(secret)).toEqual({ status: 403, code: "DENIED", message: `read on repository ${REPO.secret} is denied for user bob`, challenge: null });
    const blob = await call(T.url, `/v2/${REPO.secret}/blobs/${imagesT[REPO.secret]!.layer}`, { auth: bearer(bobTeam) });
    expect(refusal(blob)).toMatchObject({ status: 403, code: "DENIED" });
  });

  it("a token for another action: a pull-only token cannot push or delete", async () => {
    const bobPull = await token("bob", [`repository:${REPO.team}:pull`]);
    const push = await call(T.url, `/v2/${REPO.team}/blobs/uploads/`, { method: "POST", auth: bearer(bobPull) });
    expect(refusal(push)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "the token does not grant this access",
      challenge: bearerChallenge(T, { scope: `repository:${REPO.team}:pull,push`, error: "insufficient_scope" }),
      detail: repoDetail(REPO.team, "push"),
    });
    const put = await call(T.url, `/v2/${REPO.team}/manifests/v2`, { method: "PUT", auth: bearer(bobPull), headers: { "Content-Type": OCI_MANIFEST }, body: "{}" });
    expect(refusal(put)).toMatchObject({ status: 401, challenge: bearerChallenge(T, { scope: `repository:${REPO.team}:pull,push`, error: "insufficient_scope" }) });
    const bobPush = await token("bob", [`repository:${REPO.team}:pull,push`]);
    const del = await call(T.url, `/v2/${REPO.team}/manifests/${imagesT[REPO.team]!.manifest}`, { method: "DELETE", auth: bearer(bobPush) });
    expect(refusal(del)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "the token does not grant this access",
      challenge: bearerChallenge(T, { scope: `repository:${REPO.team}:delete`, error: "insufficient_scope" }),
      detail: repoDetail(REPO.team, "delete"),
    });
    // Carol asked for push on team/* and got pull only; her push is refused by the policy: 403.
    const carol = await token("carol", [`repository:${REPO.team}:pull,push`]);
    expect(decode(carol.split(".")[1]!).access).toEqual([{ type: "repository", name: REPO.team, actions: ["pull"] }]);
    const cpush = await call(T.url, `/v2/${REPO.team}/blobs/uploads/`, { method: "POST", auth: bearer(carol) });
    expect(refusal(cpush)).toEqual({ status: 403, code: "DENIED", message: `create on repository ${REPO.team} is denied for user carol`, challenge: null });
    // And the manifest is still there.
    expect((await call(T.url, `/v2/${REPO.team}/manifests/v1`, { method: "HEAD", auth: bearer(bobPull) })).status).toBe(200);
  });

  const invalid = (message: string): Refusal => ({
    status: 401,
    code: "UNAUTHORIZED",
    message: `invalid token: ${message}`,
    challenge: bearerChallenge(T, { error: "invalid_token" }),
  });
  const access = () => [{ type: "repository", name: REPO.team, actions: ["pull"] }];
  const header = () => ({ typ: "JWT", alg: "ES256", kid: berthKid });
  /** GET a manifest bob may read with `t`: what Berth answers. */
  const use = (t: string) => call(T.url, `/v2/${REPO.team}/manifests/v1`, { method: "GET", auth: bearer(t) });

  it("a token made here with Berth's key is accepted (the control of the forgeries below)", async () => {
    const r = await use(await jwt(header(), berthClaims("bob", access()), berthKey));
    expect(r.status, r.text).toBe(200);
  });

  it("an expired token: 401 invalid_token (past the 60 s leeway), though otherwise perfect", async () => {
    const iat = nowS() - 600;
    const expired = await jwt(header(), berthClaims("bob", access(), { iat, nbf: iat, exp: nowS() - 120 }), berthKey);
    expect(refusal(await use(expired))).toEqual(invalid("expired"));
    const notYet = await jwt(header(), berthClaims("bob", access(), { nbf: nowS() + 600, exp: nowS() + 900 }), berthKey);
    expect(refusal(await use(notYet))).toEqual(invalid("not valid yet"));
    const noExp = await jwt(header(), berthClaims("bob", access(), { exp: undefined }), berthKey);
    expect(refusal(await use(noExp))).toEqual(invalid("no expiry"));
  });

  it("a tampered token: signature or claims changed, 401 invalid_token bad signature", async () => {
    const real = await token("bob", [`repository:${REPO.team}:pull`]);
    const [h, c, s] = real.split(".") as [string, string, string];
    const sig = Buffer.from(s, "base64url");
    sig[10] = sig[10]! ^ 0x01;
    const flipped = `${h}.${c}.${b64u(sig)}`;
    tokens.add(flipped);
    expect(refusal(await use(flipped))).toEqual(invalid("bad signature"));
    // Widened access with the original signature.
    const claims = decode(c);
    claims.access = [{ type: "repository", name: REPO.secret, actions: ["pull", "push", "delete"] }];
    claims.sub = "alice";
    const widened = `${h}.${b64u(JSON.stringify(claims))}.${s}`;
    tokens.add(widened);
    const r = await call(T.url, `/v2/${REPO.secret}/manifests/v1`, { auth: bearer(widened) });
    expect(refusal(r)).toEqual(invalid("bad signature"));
    // No signature at all.
    expect(refusal(await use(`${h}.${c}.`))).toEqual(invalid("bad signature"));
  });

  it("alg none (and HS256) is refused before any key is looked at", async () => {
    const claims = berthClaims("alice", [{ type: "repository", name: REPO.secret, actions: ["pull"] }]);
    const none = await jwt({ typ: "JWT", alg: "none" }, claims);
    tokens.add(none);
    const r = await call(T.url, `/v2/${REPO.secret}/manifests/v1`, { auth: bearer(none) });
    expect(refusal(r)).toEqual(invalid('algorithm "none" is not accepted'));
    const noneKid = await jwt({ typ: "JWT", alg: "none", kid: berthKid }, claims);
    tokens.add(noneKid);
    expect(refusal(await call(T.url, `/v2/${REPO.secret}/manifests/v1`, { auth: bearer(noneKid) }))).toEqual(invalid('algorithm "none" is not accepted'));
    // HS256 keyed with something public (the kid): the classic key confusion.
    const input = `${b64u(JSON.stringify({ typ: "JWT", alg: "HS256", kid: berthKid }))}.${b64u(JSON.stringify(claims))}`;
    const hk = await crypto.subtle.importKey("raw", new TextEncoder().encode(berthKid), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const hs = `${input}.${b64u(new Uint8Array(await crypto.subtle.sign("HMAC", hk, new TextEncoder().encode(input))))}`;
    tokens.add(hs);
    expect(refusal(await call(T.url, `/v2/${REPO.secret}/manifests/v1`, { auth: bearer(hs) }))).toEqual(invalid('algorithm "HS256" is not accepted'));
  });

  it("a wrong audience or issuer: 401 invalid_token, even signed with Berth's key", async () => {
    const aud = await jwt(header(), berthClaims("bob", access(), { aud: "registry.elsewhere" }), berthKey);
    expect(refusal(await use(aud))).toEqual(invalid("token is meant for another service"));
    const noAud = await jwt(header(), berthClaims("bob", access(), { aud: undefined }), berthKey);
    expect(refusal(await use(noAud))).toEqual(invalid("token is meant for another service"));
    const iss = await jwt(header(), berthClaims("bob", access(), { iss: "not-berth" }), berthKey);
    expect(refusal(await use(iss))).toEqual(invalid("untrusted issuer"));
    // An external issuer's token where none is configured.
    const ext = await jwt({ typ: "JWT", alg: "ES256", kid: extEc.kid }, berthClaims("bob", access(), { iss: EXT.issuer }), extEc.key);
    expect(refusal(await use(ext))).toEqual(invalid("untrusted issuer"));
  });

  it("a token signed by a key Berth does not trust: 401 invalid_token", async () => {
    const rogue = await newEcKey();
    const sameKid = await jwt(header(), berthClaims("alice", access()), rogue.privateKey);
    expect(refusal(await use(sameKid))).toEqual(invalid("bad signature"));
    const rogueKid = ecThumbprint(await crypto.subtle.exportKey("jwk", rogue.publicKey));
    const ownKid = await jwt({ typ: "JWT", alg: "ES256", kid: rogueKid }, berthClaims("alice", access()), rogue.privateKey);
    expect(refusal(await use(ownKid))).toEqual(invalid("unknown key id"));
    const jwkHeader = { typ: "JWT", alg: "ES256", jwk: await crypto.subtle.exportKey("jwk", rogue.publicKey) };
    expect(refusal(await use(await jwt(jwkHeader, berthClaims("alice", access()), rogue.privateKey)))).toEqual(invalid("signing key is not trusted"));
  });
});

// ---- mounts and upload sessions (both modes) --------------------------------------------------------------

/** The repository's link to a blob, if the bucket has it. */
async function linkOf(i: Inst, repo: string, digest: string): Promise<string[]> {
  return listKeys(`${repoPrefix(i, repo)}_layers/sha256/${digest.slice("sha256:".length)}/`);
}

describe("cross-repository mount from a repository the caller cannot read", () => {
  it("token mode: 202 and a session (no 201), no link in the target; a readable source mounts (201)", async () => {
    const carol = await token("carol", [`repository:${REPO.dst}:pull,push`, `repository:${REPO.secret}:pull`, `repository:${REPO.pub}:pull`]);
    expect(decode(carol.split(".")[1]!).access).toEqual([
      { type: "repository", name: REPO.dst, actions: ["pull", "push"] },
      { type: "repository", name: REPO.pub, actions: ["pull"] },
    ]);
    const layer = imagesT[REPO.secret]!.layer;
    const r = await call(T.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${layer}&from=${REPO.secret}`, { method: "POST", auth: bearer(carol) });
    expect(r.status, r.text).toBe(202);
    const loc = r.headers.get("location") ?? "";
    expect(loc).toMatch(new RegExp(`^/v2/${REPO.dst}/blobs/uploads/[0-9a-f-]{36}$`));
    expect(r.headers.get("docker-content-digest")).toBeNull();
    expect(await linkOf(T, REPO.dst, layer)).toEqual([]);
    const head = await call(T.url, `/v2/${REPO.dst}/blobs/${layer}`, { method: "HEAD", auth: bearer(carol) });
    expect(head.status).toBe(404);
    expect((await call(T.url, loc, { method: "DELETE", auth: bearer(carol) })).status).toBe(204);
    // Without `from` (the blob may be anywhere): never a mount once anything is private.
    const anywhere = await call(T.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${layer}`, { method: "POST", auth: bearer(carol) });
    expect(anywhere.status, anywhere.text).toBe(202);
    expect(await linkOf(T, REPO.dst, layer)).toEqual([]);
    expect((await call(T.url, anywhere.headers.get("location")!, { method: "DELETE", auth: bearer(carol) })).status).toBe(204);

    // Control: the public image's layer, which carol may read, mounts.
    const pubLayer = imagesT[REPO.pub]!.layer;
    const ok = await call(T.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${pubLayer}&from=${REPO.pub}`, { method: "POST", auth: bearer(carol) });
    expect([ok.status, ok.headers.get("location"), ok.headers.get("docker-content-digest")]).toEqual([201, `/v2/${REPO.dst}/blobs/${pubLayer}`, pubLayer]);
    expect(await linkOf(T, REPO.dst, pubLayer)).toEqual([`${repoPrefix(T, REPO.dst)}_layers/sha256/${pubLayer.slice(7)}/link`]);
    expect(await linkOf(T, REPO.dst, layer)).toEqual([]);
  });

  it("htpasswd mode: the same with Basic credentials", async () => {
    const layer = imagesH[REPO.secret]!.layer;
    const r = await call(H.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${layer}&from=${REPO.secret}`, { method: "POST", auth: login("carol") });
    expect(r.status, r.text).toBe(202);
    expect(r.headers.get("location")).toMatch(new RegExp(`^/v2/${REPO.dst}/blobs/uploads/[0-9a-f-]{36}$`));
    expect(await linkOf(H, REPO.dst, layer)).toEqual([]);
    expect((await call(H.url, r.headers.get("location")!, { method: "DELETE", auth: login("carol") })).status).toBe(204);
    // Alice may read secret/* but not write carol/**: the target decides first, 403.
    const alice = await call(H.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${layer}&from=${REPO.secret}`, { method: "POST", auth: login("alice") });
    expect(refusal(alice)).toEqual({ status: 403, code: "DENIED", message: `create on repository ${REPO.dst} is denied for user alice`, challenge: null });
    const pubLayer = imagesH[REPO.pub]!.layer;
    const ok = await call(H.url, `/v2/${REPO.dst}/blobs/uploads/?mount=${pubLayer}&from=${REPO.pub}`, { method: "POST", auth: login("carol") });
    expect(ok.status).toBe(201);
    expect(await linkOf(H, REPO.dst, pubLayer)).toEqual([`${repoPrefix(H, REPO.dst)}_layers/sha256/${pubLayer.slice(7)}/link`]);
    expect(await linkOf(H, REPO.dst, layer)).toEqual([]);
  });
});

describe("an upload session used through another repository", () => {
  async function check(i: Inst, alice: string, carol: string): Promise<void> {
    const start = await call(i.url, `/v2/${REPO.secret}/blobs/uploads/`, { method: "POST", auth: alice });
    expect(start.status, start.text).toBe(202);
    const loc = start.headers.get("location")!;
    const uuid = loc.split("/").pop()!;
    const bytes = randomBytes(2048);
    const d = digestOf(bytes);
    const elsewhere = `/v2/${REPO.dst}/blobs/uploads/${uuid}`;
    const unknown = { status: 404, code: "BLOB_UPLOAD_UNKNOWN", message: "blob upload unknown to registry", challenge: null };
    const patch = await call(i.url, elsewhere, { method: "PATCH", auth: carol, body: bytes, headers: { "Content-Type": "application/octet-stream" } });
    expect(refusal(patch)).toEqual(unknown);
    const put = await call(i.url, `${elsewhere}?digest=${d}`, { method: "PUT", auth: carol, body: bytes, headers: { "Content-Type": "application/octet-stream" } });
    expect(refusal(put)).toEqual(unknown);
    expect(refusal(await call(i.url, elsewhere, { auth: carol }))).toEqual(unknown);
    expect(refusal(await call(i.url, elsewhere, { method: "DELETE", auth: carol }))).toEqual(unknown);
    // Through its own path, carol is refused by the policy before the session is touched.
    const own = await call(i.url, `${loc}?digest=${d}`, { method: "PUT", auth: carol, body: bytes, headers: { "Content-Type": "application/octet-stream" } });
    expect(refusal(own)).toEqual({ status: 403, code: "DENIED", message: `create on repository ${REPO.secret} is denied for user carol`, challenge: null });
    const ownPatch = await call(i.url, loc, { method: "PATCH", auth: carol, body: bytes, headers: { "Content-Type": "application/octet-stream" } });
    expect(refusal(ownPatch)).toMatchObject({ status: 403, code: "DENIED" });
    // Nothing written: no blob, no link anywhere, no upload data under the other repository; alice's session
    // is untouched (offset 0) and still hers to cancel.
    expect(await listKeys(blobPrefix(i, d))).toEqual([]);
    expect((await listKeys(repoPrefix(i, REPO.dst))).filter((k) => k.includes(d.slice(7)) || k.includes(uuid))).toEqual([]);
    expect((await listKeys(repoPrefix(i, REPO.secret))).filter((k) => k.includes(d.slice(7)))).toEqual([]);
    const status = await call(i.url, loc, { auth: alice });
    expect([status.status, status.headers.get("range")]).toEqual([204, "0-0"]);
    expect((await call(i.url, loc, { method: "DELETE", auth: alice })).status).toBe(204);
  }

  it("token mode: 404 BLOB_UPLOAD_UNKNOWN, nothing written; through its own repository, 403 DENIED", async () => {
    const alice = await token("alice", [`repository:${REPO.secret}:pull,push`]);
    const carol = await token("carol", [`repository:${REPO.dst}:pull,push`, `repository:${REPO.secret}:pull,push`]);
    await check(T, bearer(alice), bearer(carol));
  });

  it("htpasswd mode: the same with Basic credentials", async () => {
    await check(H, login("alice"), login("carol"));
  });
});

// ---- moving a tag needs "update" -------------------------------------------------------------------------

describe("push needs create; moving an existing tag also needs update", () => {
  async function check(i: Inst, images: Record<string, Pushed>, bob: string): Promise<void> {
    const put = (tag: string, json: string) =>
      call(i.url, `/v2/${REPO.drop}/manifests/${tag}`, { method: "PUT", body: json, auth: bob, headers: { "Content-Type": OCI_MANIFEST } });
    const current = await call(i.url, `/v2/${REPO.drop}/manifests/v1`, { auth: bob, headers: { Accept: OCI_MANIFEST } });
    expect([current.status, digestOf(current.text)]).toEqual([200, images[REPO.drop]!.manifest]);
    // The same manifest again under its tag: nothing moves, allowed.
    expect((await put("v1", current.text)).status).toBe(201);
    // Another manifest under the existing tag: refused; under a new tag: allowed.
    const other = await pushBlobs(i.url, REPO.drop, bob);
    expect(refusal(await put("v1", other.json))).toEqual({
      status: 403,
      code: "DENIED",
      message: `update on repository ${REPO.drop} is denied for user bob`,
      challenge: null,
    });
    const v2 = await put("v2", other.json);
    expect([v2.status, v2.headers.get("docker-content-digest")]).toEqual([201, other.manifest]);
    const after = await call(i.url, `/v2/${REPO.drop}/manifests/v1`, { method: "HEAD", auth: bob, headers: { Accept: OCI_MANIFEST } });
    expect(after.headers.get("docker-content-digest")).toBe(images[REPO.drop]!.manifest);
  }

  it("token mode (bob's push grant stands for create; the policy refuses update)", async () => {
    const t = await token("bob", [`repository:${REPO.drop}:pull,push`]);
    expect(decode(t.split(".")[1]!).access).toEqual([{ type: "repository", name: REPO.drop, actions: ["pull", "push"] }]);
    await check(T, imagesT, bearer(t));
  });

  it("htpasswd mode", async () => {
    await check(H, imagesH, login("bob"));
  });
});

// ---- catalog ----------------------------------------------------------------------------------------------

describe("catalog filtering", () => {
  const list = (r: Res) => (JSON.parse(r.text) as { repositories: string[] }).repositories;

  it("token mode: needs the catalog scope, then lists exactly what the caller may read", async () => {
    const none = await call(T.url, "/v2/_catalog");
    expect(refusal(none)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "authentication required",
      challenge: bearerChallenge(T, { scope: "registry:catalog:*" }),
      detail: [{ Type: "registry", Name: "catalog", Action: "*" }],
    });
    const noScope = await call(T.url, "/v2/_catalog", { auth: bearer(await token("alice", [`repository:${REPO.team}:pull`])) });
    expect(refusal(noScope)).toMatchObject({ status: 401, challenge: bearerChallenge(T, { scope: "registry:catalog:*", error: "insufficient_scope" }) });
    for (const who of ["alice", "bob", "carol", "anonymous"] as const) {
      const t = await token(who === "anonymous" ? null : who, ["registry:catalog:*"]);
      const r = await call(T.url, "/v2/_catalog", { auth: bearer(t) });
      expect(r.status, `${who}: ${r.text}`).toBe(200);
      // carol/dst holds only a mounted blob (no manifest): never listed.
      expect(list(r), who).toEqual(CATALOG[who]);
    }
  });

  it("htpasswd mode: lists exactly what the caller may read, anonymous callers the public repositories", async () => {
    for (const who of ["alice", "bob", "carol", "anonymous"] as const) {
      const r = await call(H.url, "/v2/_catalog", who === "anonymous" ? {} : { auth: login(who) });
      expect(r.status, `${who}: ${r.text}`).toBe(200);
      expect(list(r), who).toEqual(CATALOG[who]);
    }
    // Paginated: still filtered before paging.
    const p = await call(H.url, "/v2/_catalog?n=1", { auth: login("bob") });
    expect(list(p)).toEqual([CATALOG.bob[0]]);
  });
});

// ---- htpasswd mode ----------------------------------------------------------------------------------------

describe("htpasswd mode (Basic)", () => {
  it("no credentials: /v2/ and private pulls are 401 with the Basic challenge; public pulls pass", async () => {
    const base = await call(H.url, "/v2/");
    expect(refusal(base)).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge: basicChallenge });
    const priv = await call(H.url, `/v2/${REPO.team}/manifests/v1`);
    expect(refusal(priv)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "authentication required",
      challenge: basicChallenge,
      detail: repoDetail(REPO.team, "pull"),
    });
    const push = await call(H.url, `/v2/${REPO.pub}/blobs/uploads/`, { method: "POST" });
    expect(refusal(push)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: basicChallenge, detail: repoDetail(REPO.pub, "push") });
    const pub = await call(H.url, `/v2/${REPO.pub}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect([pub.status, digestOf(pub.text)]).toEqual([200, imagesH[REPO.pub]!.manifest]);
    const ok = await call(H.url, "/v2/", { auth: login("carol") });
    expect([ok.status, ok.text]).toEqual([200, "{}"]);
  });

  it("empty Basic credentials (`Basic Og==`, what skopeo and podman send without a login) are an anonymous caller", async () => {
    const empty = basic("", "");
    expect(empty).toBe("Basic Og==");
    const pub = await call(H.url, `/v2/${REPO.pub}/manifests/v1`, { method: "HEAD", auth: empty });
    expect([pub.status, pub.headers.get("docker-content-digest")]).toEqual([200, imagesH[REPO.pub]!.manifest]);
    // No fail delay needed (nobody was named), and no more rights than anonymous.
    const priv = await call(H.url, `/v2/${REPO.team}/manifests/v1`, { auth: empty });
    expect(refusal(priv)).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge: basicChallenge, detail: repoDetail(REPO.team, "pull") });
    const base = await call(H.url, "/v2/", { auth: empty });
    expect(refusal(base)).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge: basicChallenge });
    const push = await call(H.url, `/v2/${REPO.pub}/blobs/uploads/`, { method: "POST", auth: empty });
    expect(refusal(push)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: basicChallenge });
    const cat = await call(H.url, "/v2/_catalog", { auth: empty });
    expect(JSON.parse(cat.text)).toEqual({ repositories: CATALOG.anonymous });
    // A user name with an empty password is a login attempt, and fails as one.
    const noPw = await call(H.url, `/v2/${REPO.pub}/manifests/v1`, { auth: basic("alice", "") });
    expect(refusal(noPw)).toMatchObject({ status: 401, message: "authentication failed" });
    expect(noPw.ms).toBeGreaterThanOrEqual(FAIL_DELAY_MS);
  });

  it("wrong password, unknown user, a Bearer token: 401 with the Basic challenge after the fail delay, even on public reads", async () => {
    const cases: [string, string, string][] = [
      ["wrong password", "/v2/", basic("alice", `not-${PW.alice}`)],
      ["unknown user", "/v2/", basic(`mallory${RUN}`, PW.alice!)],
      ["empty password", "/v2/", basic("alice", "")],
      ["bearer token", "/v2/", bearer(`a.b.c${RUN}`)],
      ["wrong password on a public pull", `/v2/${REPO.pub}/manifests/v1`, basic("bob", `not-${PW.bob}`)],
    ];
    for (const [what, p, auth] of cases) {
      const r = await call(H.url, p, { auth });
      expect(refusal(r), what).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication failed", challenge: basicChallenge });
      expect(r.ms, `${what}: answered after ${r.ms} ms`).toBeGreaterThanOrEqual(FAIL_DELAY_MS);
    }
  });

  it("known users: 403 DENIED where the policy says no", async () => {
    const cases: [string, string, CallInit, string][] = [
      ["carol pushes to team/*", `/v2/${REPO.team}/blobs/uploads/`, { method: "POST", auth: login("carol") }, `create on repository ${REPO.team}`],
      ["carol pulls secret/*", `/v2/${REPO.secret}/manifests/v1`, { auth: login("carol") }, `read on repository ${REPO.secret}`],
      ["bob lists tags of secret/*", `/v2/${REPO.secret}/tags/list`, { auth: login("bob") }, `read on repository ${REPO.secret}`],
      ["alice deletes in public/**", `/v2/${REPO.pub}/manifests/${imagesH[REPO.pub]?.manifest}`, { method: "DELETE", auth: login("alice") }, `delete on repository ${REPO.pub}`],
      ["bob reads carol/**", `/v2/${REPO.carol}/blobs/${imagesH[REPO.carol]?.layer}`, { auth: login("bob") }, `read on repository ${REPO.carol}`],
      ["carol lists referrers in secret/*", `/v2/${REPO.secret}/referrers/${imagesH[REPO.secret]?.manifest}`, { auth: login("carol") }, `read on repository ${REPO.secret}`],
      ["bob deletes a blob in carol/**", `/v2/${REPO.carol}/blobs/${imagesH[REPO.carol]?.layer}`, { method: "DELETE", auth: login("bob") }, `delete on repository ${REPO.carol}`],
    ];
    for (const [what, p, init, msg] of cases) {
      const r = await call(H.url, p, init);
      const user = /^(\w+)/.exec(what)![1];
      expect(refusal(r), what).toEqual({ status: 403, code: "DENIED", message: `${msg} is denied for user ${user}`, challenge: null });
    }
    // HEAD: the same status, no body.
    const head = await call(H.url, `/v2/${REPO.secret}/blobs/${imagesH[REPO.secret]!.layer}`, { method: "HEAD", auth: login("carol") });
    expect([head.status, head.text, head.headers.get("www-authenticate")]).toEqual([403, "", null]);
    // Nothing was deleted.
    const still = await call(H.url, `/v2/${REPO.carol}/blobs/${imagesH[REPO.carol]!.layer}`, { method: "HEAD", auth: login("carol") });
    expect(still.status).toBe(200);
  });
});

// ---- REGISTRY_AUTH unset ----------------------------------------------------------------------------------

describe("REGISTRY_AUTH unset (an empty value)", () => {
  it("serves reads to anyone, with or without credentials", async () => {
    const base = await call(U.url, "/v2/");
    expect([base.status, base.text, base.headers.get("www-authenticate")]).toEqual([200, "{}", null]);
    // What alice pushed through the htpasswd instance into the shared root, private there: readable here.
    const m = await call(U.url, `/v2/${REPO.secret}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect([m.status, digestOf(m.text)]).toEqual([200, imagesH[REPO.secret]!.manifest]);
    const withCreds = await call(U.url, `/v2/${REPO.secret}/manifests/v1`, { method: "HEAD", auth: basic("whoever", "whatever") });
    expect(withCreds.status).toBe(200);
    const cat = await call(U.url, "/v2/_catalog");
    expect((JSON.parse(cat.text) as { repositories: string[] }).repositories).toEqual(Object.values(REPO).sort());
  });

  it("refuses every write with 403 DENIED saying to set REGISTRY_AUTH; nothing is written", async () => {
    const repo = `unset/new-${RUN}`;
    const bytes = randomBytes(512);
    const denied = {
      status: 403,
      code: "DENIED",
      message: "this registry has no authentication configured, so it refuses writes: set REGISTRY_AUTH to htpasswd or token (or none, to allow anonymous writes on purpose)",
      challenge: null,
    };
    const writes: [string, string, CallInit][] = [
      ["POST upload", `/v2/${repo}/blobs/uploads/`, { method: "POST" }],
      ["monolithic POST", `/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, { method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" } }],
      ["POST with Basic", `/v2/${repo}/blobs/uploads/`, { method: "POST", auth: login("alice") }],
      ["mount", `/v2/${repo}/blobs/uploads/?mount=${imagesH[REPO.team]!.layer}&from=${REPO.team}`, { method: "POST" }],
      ["PUT manifest", `/v2/${repo}/manifests/v1`, { method: "PUT", body: "{}", headers: { "Content-Type": OCI_MANIFEST } }],
      ["DELETE manifest", `/v2/${REPO.team}/manifests/${imagesH[REPO.team]!.manifest}`, { method: "DELETE" }],
      ["DELETE blob", `/v2/${REPO.team}/blobs/${imagesH[REPO.team]!.layer}`, { method: "DELETE", auth: login("alice") }],
    ];
    for (const [what, p, init] of writes) {
      const r = await call(U.url, p, init);
      expect(refusal(r), what).toEqual(denied);
    }
    expect(await listKeys(repoPrefix(U, repo))).toEqual([]);
    expect(await listKeys(blobPrefix(U, digestOf(bytes)))).toEqual([]);
    const still = await call(U.url, `/v2/${REPO.team}/manifests/v1`, { method: "HEAD" });
    expect([still.status, still.headers.get("docker-content-digest")]).toEqual([200, imagesH[REPO.team]!.manifest]);
  });
});

// ---- an external token issuer -----------------------------------------------------------------------------

describe("token mode with an external issuer (JWKS and certificate bundle)", () => {
  const repo = `ext/app-${RUN}`;
  const claims = (actions: string[], extra: Json = {}): Json => {
    const iat = nowS();
    return { iss: EXT.issuer, sub: "ext-user", aud: EXT.service, iat, nbf: iat, exp: iat + 300, access: [{ type: "repository", name: repo, actions }], ...extra };
  };
  const ecToken = (c: Json, key = extEc.key, kid = extEc.kid) => jwt({ typ: "JWT", alg: "ES256", kid }, c, key);
  const rsaToken = (c: Json, key = extRsa.key) => jwt({ typ: "JWT", alg: "RS256", x5c: [extRsa.certB64] }, c, key);
  const extChallenge = (opts: { scope?: string; error?: string } = {}) => bearerChallenge(X, { realm: EXT.realm, service: EXT.service, ...opts });
  const blob = randomBytes(777);

  it("without a token: 401 with the external realm and service; Berth serves no /token", async () => {
    expect(refusal(await call(X.url, "/v2/"))).toEqual({ status: 401, code: "UNAUTHORIZED", message: "authentication required", challenge: extChallenge() });
    const pull = await call(X.url, `/v2/${repo}/manifests/v1`);
    expect(refusal(pull)).toMatchObject({ status: 401, code: "UNAUTHORIZED", challenge: extChallenge({ scope: `repository:${repo}:pull` }) });
    const tok = await call(X.url, `/token?service=${EXT.service}`, { auth: login("alice") });
    expect(refusal(tok)).toMatchObject({ status: 404, code: "UNSUPPORTED" });
  });

  it("accepts the issuer's tokens: by kid from the JWKS, by x5c from the certificate bundle; grants as issued", async () => {
    const push = await ecToken(claims(["pull", "push"]));
    const r = await call(X.url, `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: "POST",
      auth: bearer(push),
      body: blob,
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(r.status, r.text + logsOf(X)).toBe(201);
    const pull = await rsaToken(claims(["pull"]));
    expect((await call(X.url, "/v2/", { auth: bearer(pull) })).status).toBe(200);
    const head = await call(X.url, `/v2/${repo}/blobs/${digestOf(blob)}`, { method: "HEAD", auth: bearer(pull) });
    expect([head.status, head.headers.get("docker-content-digest")]).toEqual([200, digestOf(blob)]);
    // The RSA token grants pull only.
    const noPush = await call(X.url, `/v2/${repo}/blobs/uploads/`, { method: "POST", auth: bearer(pull) });
    expect(refusal(noPush)).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
      message: "the token does not grant this access",
      challenge: extChallenge({ scope: `repository:${repo}:pull,push`, error: "insufficient_scope" }),
      detail: repoDetail(repo, "push"),
    });
  });

  it("refuses tokens from unknown keys, and the issuer's own key with a wrong issuer, audience or expiry", async () => {
    const invalid = (message: string) => ({ status: 401, code: "UNAUTHORIZED", message: `invalid token: ${message}`, challenge: extChallenge({ error: "invalid_token" }) });
    const use = (t: string) => call(X.url, `/v2/${repo}/blobs/${digestOf(blob)}`, { method: "HEAD", auth: bearer(t) });
    const rogue = await newEcKey();
    const rogueRsa = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      false,
      ["sign", "verify"],
    )) as webcrypto.CryptoKeyPair;
    // HEAD answers have no body: check the challenge on HEAD, the message on GET /v2/.
    const cases: [string, string, string][] = [
      ["unknown key claiming the JWKS kid", await ecToken(claims(["pull"]), rogue.privateKey), "bad signature"],
      ["unknown key with its own kid", await ecToken(claims(["pull"]), rogue.privateKey, `rogue-${RUN}`), "unknown key id"],
      ["unknown key behind the trusted certificate", await rsaToken(claims(["pull"]), rogueRsa.privateKey), "bad signature"],
      ["trusted key, wrong issuer", await ecToken(claims(["pull"], { iss: "someone-else" })), "untrusted issuer"],
      ["trusted key, Berth's own issuer name", await ecToken(claims(["pull"], { iss: "berth" })), "untrusted issuer"],
      ["trusted key, wrong audience", await ecToken(claims(["pull"], { aud: X.host })), "token is meant for another service"],
      ["trusted key, expired", await ecToken(claims(["pull"], { exp: nowS() - 120 })), "expired"],
      ["alg none", await jwt({ typ: "JWT", alg: "none", kid: extEc.kid }, claims(["pull"])), 'algorithm "none" is not accepted'],
    ];
    for (const [what, t, message] of cases) {
      tokens.add(t);
      const h = await use(t);
      expect([h.status, h.headers.get("www-authenticate")], what).toEqual([401, extChallenge({ error: "invalid_token" })]);
      expect(refusal(await call(X.url, "/v2/", { auth: bearer(t) })), what).toEqual(invalid(message));
    }
  });
});

// ---- no secret leaks ---------------------------------------------------------------------------------------

describe("secrets", () => {
  it("no response body and no Berth log line holds a password, an Authorization value or a token", async () => {
    // Traffic of its own, so the check has material whether or not the tests above ran (whatever they sent is
    // checked too): every user gets a token for every repository and reads with it, reads with Basic, and
    // logs in with a wrong password on both instances.
    for (const user of Object.keys(PW) as User[]) {
      for (const repo of Object.values(REPO)) {
        const t = await token(user, [`repository:${repo}:pull`]);
        await call(T.url, `/v2/${repo}/tags/list`, { auth: bearer(t) });
        await call(H.url, `/v2/${repo}/tags/list`, { auth: login(user) });
      }
      await tokenRes(user, [`repository:${REPO.pub}:pull`], `not-${PW[user]}`);
      await call(H.url, "/v2/", { auth: basic(user, `not-${PW[user]}`) });
    }
    // Give wrangler a moment to flush its request log lines.
    await new Promise((r) => setTimeout(r, 500));
    const passwords = Object.values(PW);
    const auths = [...authValues].map((a) => a.replace(/^(Basic|Bearer) /, "")).filter((a) => a.length >= 12);
    const toks = [...tokens];
    const sigs = toks.map((t) => t.split(".")[2] ?? "").filter((s) => s.length >= 16);
    expect(passwords.length).toBe(3);
    expect(auths.length).toBeGreaterThan(20);
    expect(toks.length).toBeGreaterThanOrEqual(passwords.length * Object.keys(REPO).length);
    const leaks = (text: string, allowTokens: boolean): string[] => {
      const found: string[] = [];
      for (const p of passwords) if (text.includes(p)) found.push(`password ${p}`);
      for (const a of auths) if (!allowTokens && text.includes(a)) found.push(`authorization ${a.slice(0, 12)}…`);
      for (const s of sigs) if (!allowTokens && text.includes(s)) found.push(`token signature ${s.slice(0, 12)}…`);
      if (/authorization:/i.test(text)) found.push("an Authorization header");
      return found;
    };
    expect(seen.length).toBeGreaterThan(50);
    for (const s of seen) {
      // The token endpoint's answers carry the token they issue (and the refresh token they were given).
      const issued = s.status === 200 && /\/token(\?|$)/.test(s.what);
      expect(leaks(s.text, issued), `${s.what} -> ${s.status}: ${s.text.slice(0, 300)}`).toEqual([]);
    }
    for (const i of [T, H, U, X]) {
      const log = i.berth.logs();
      expect(log).toMatch(/\[wrangler:info\] (GET|POST|HEAD) \/v2\//); // the request log is there to look at
      expect(leaks(log, false), i.url).toEqual([]);
    }
    // Nor Berth's signing key (a secret, passed as a variable here).
    const keyLine = berthPem.split("\n")[1]!;
    expect(keyLine.length).toBe(64);
    expect(T.berth.logs()).not.toContain(keyLine);
    for (const s of seen) expect(s.text).not.toContain(keyLine);
  });
});
