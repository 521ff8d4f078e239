// Unit tests of src/http/auth/jwt.ts and keys.ts (on jose) and src/config/keys.ts: ES256/RS256 round trips with
// Berth's own key, and every way a token must be refused (expired, not yet valid, wrong audience or issuer,
// tampered, alg none, HS256 keyed with a public key, unknown kid, untrusted key), with keys from a JWKS and from
// a certificate bundle (openssl-made fixtures, looked up by RFC 7638 thumbprint, libtrust id, x5c and embedded
// jwk).
import type { webcrypto } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config";
import { certificateSpki } from "../../src/config/der";
import { parseCertBundle, parseJwks, parsePrivateKey } from "../../src/config/keys";
import { JwtError, parseJwt, signJwt, verifyJwt } from "../../src/http/auth/jwt";
import { libtrustKeyId, loadSigningKey, loadTrustedKeys, thumbprint, type LoadedSigningKey, type TrustedKey } from "../../src/http/auth/keys";
import { ecKeyPem, fixture, hs256Jwt, importPrivate, rawJwt, rsaKeyPem } from "./auth-helpers";

const NOW = 1_700_000_000_000;
const iat = NOW / 1000;
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: "issuer.example",
  sub: "alice",
  aud: "registry.example",
  iat,
  nbf: iat,
  exp: iat + 300,
  access: [{ type: "repository", name: "team/app", actions: ["pull"] }],
  ...extra,
});
const opts = (keys: readonly TrustedKey[], extra: Partial<Parameters<typeof verifyJwt>[1]> = {}) => ({
  keys,
  issuer: "issuer.example",
  audience: "registry.example",
  nowMs: NOW,
  ...extra,
});

async function rejects(p: Promise<unknown>, reason: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JwtError);
  expect((e as JwtError).reason).toMatch(reason);
}

describe("Berth's own key: sign and verify", () => {
  let es: LoadedSigningKey;
  let rs: LoadedSigningKey;
  beforeAll(async () => {
    es = await loadSigningKey(parsePrivateKey(await ecKeyPem(), "K"));
    rs = await loadSigningKey(parsePrivateKey(await rsaKeyPem(), "K"));
  });

  it("round-trips ES256 and RS256 with a thumbprint kid", async () => {
    for (const key of [es, rs]) {
      const token = await signJwt(claims(), key);
      const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as Record<string, string>;
      expect(header).toEqual({ typ: "JWT", alg: key === es ? "ES256" : "RS256", kid: key.kid });
      expect(key.kid).toBe(await thumbprint(key.publicKey.jwk));
      const got = await verifyJwt(token, opts([key.publicKey]));
      expect(got.sub).toBe("alice");
      expect(got.access).toEqual(claims().access);
      expect(parseJwt(token).claims.iss).toBe("issuer.example");
    }
  });

  it("accepts a private JWK and an aud list", async () => {
    const kp = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign"])) as webcrypto.CryptoKeyPair;
    const jwk = { ...(await crypto.subtle.exportKey("jwk", kp.privateKey)), kid: "mine", ext: false, key_ops: ["sign"] };
    const key = await loadSigningKey(parsePrivateKey(JSON.stringify(jwk), "K"));
    expect([key.alg, key.kid]).toEqual(["ES384", "mine"]);
    const token = await signJwt(claims({ aud: ["other", "registry.example"] }), key);
    expect((await verifyJwt(token, opts([key.publicKey]))).sub).toBe("alice");
  });

  it("tolerates 60 s of clock skew, no more", async () => {
    const t = await signJwt(claims({ exp: iat - 59, nbf: iat + 59 }), es);
    await expect(verifyJwt(t, opts([es.publicKey]))).resolves.toBeTruthy();
    await rejects(verifyJwt(await signJwt(claims({ exp: iat - 61 }), es), opts([es.publicKey])), /expired/);
    await rejects(verifyJwt(await signJwt(claims({ nbf: iat + 61 }), es), opts([es.publicKey])), /not valid yet/);
    await rejects(verifyJwt(await signJwt(claims({ exp: undefined }), es), opts([es.publicKey])), /no expiry/);
  });

  it("refuses a wrong audience or issuer", async () => {
    const t = await signJwt(claims(), es);
    await rejects(verifyJwt(t, opts([es.publicKey], { audience: "other.example" })), /another service/);
    await rejects(verifyJwt(t, opts([es.publicKey], { issuer: "someone-else" })), /untrusted issuer/);
  });

  it("refuses tampered claims and a tampered signature", async () => {
    const [h, c, s] = (await signJwt(claims(), es)).split(".") as [string, string, string];
    const forged = Buffer.from(JSON.stringify(claims({ access: [{ type: "repository", name: "team/app", actions: ["push"] }]}))).toString("base64url");
    await rejects(verifyJwt(`${h}.${forged}.${s}`, opts([es.publicKey])), /bad signature/);
    const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    await rejects(verifyJwt(`${h}.${c}.${flipped}`, opts([es.publicKey])), /bad signature/);
    await rejects(verifyJwt(`${h}.${c}`, opts([es.publicKey])), /not a signed JWT/);
    await rejects(verifyJwt(`${h}.${c}.${s}.x`, opts([es.publicKey])), /not a signed JWT/);
  });

  it("refuses alg none, HS256 keyed with the public key, and algorithms that do not fit the key", async () => {
    await rejects(verifyJwt(await rawJwt({ alg: "none", kid: es.kid }, claims()), opts([es.publicKey])), /not accepted/);
    const pubPem = JSON.stringify(es.publicKey.jwk);
    await rejects(verifyJwt(await hs256Jwt({ alg: "HS256", kid: es.kid }, claims(), pubPem), opts([es.publicKey])), /not accepted/);
    // An RSA key asked to verify "ES256" (and the reverse): refused before any crypto.
    const esToken = await signJwt(claims(), es);
    const [, c, s] = esToken.split(".");
    const asRs = `${Buffer.from(JSON.stringify({ alg: "ES256", kid: rs.kid })).toString("base64url")}.${c}.${s}`;
    await rejects(verifyJwt(asRs, opts([rs.publicKey])), /does not fit/);
  });

  it("refuses an unknown kid, a missing kid, and a key that is not trusted", async () => {
    const other = await loadSigningKey(parsePrivateKey(await ecKeyPem(), "K"));
    await rejects(verifyJwt(await signJwt(claims(), other), opts([es.publicKey])), /unknown key id/);
    const noKid = await rawJwt({ alg: "ES256" }, claims(), other.privateKey);
    await rejects(verifyJwt(noKid, opts([es.publicKey])), /no key id/);
    // The trusted kid, signed by another key.
    const impostor = await rawJwt({ alg: "ES256", kid: es.kid }, claims(), other.privateKey);
    await rejects(verifyJwt(impostor, opts([es.publicKey])), /bad signature/);
    // An embedded jwk that is not one of ours.
    const embedded = await rawJwt({ alg: "ES256", jwk: other.publicKey.jwk }, claims(), other.privateKey);
    await rejects(verifyJwt(embedded, opts([es.publicKey])), /not trusted/);
    await rejects(verifyJwt("x".repeat(70_000), opts([es.publicKey])), /too long/);
    await rejects(verifyJwt("e30.e30.", opts([es.publicKey])), /not accepted/);
    await rejects(verifyJwt("!!.e30.", opts([es.publicKey])), /malformed header/);
  });
});

describe("an external issuer's keys", () => {
  const ecPem = fixture("issuer-ec.key");
  const rsaPem = fixture("issuer-rsa.key");

  it("reads a certificate bundle and finds each key by thumbprint and libtrust id", async () => {
    const bundle = `${fixture("issuer-ec.crt")}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n${fixture("issuer-rsa.crt")}`;
    const keys = await loadTrustedKeys(parseCertBundle(bundle, "B"));
    expect(keys).toHaveLength(2);
    const ec = keys[0]!;
    const { spki } = certificateSpki(ec.cert!);
    expect(ec.ids).toContain(await thumbprint(ec.jwk));
    const lt = await libtrustKeyId(spki);
    expect(lt).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(ec.ids).toContain(lt);

    const ecKey = await importPrivate(ecPem, "ES256");
    const byThumb = await rawJwt({ alg: "ES256", kid: await thumbprint(ec.jwk) }, claims(), ecKey);
    const byLibtrust = await rawJwt({ alg: "ES256", kid: lt }, claims(), ecKey);
    const x5c = Buffer.from(ec.cert!).toString("base64");
    const byX5c = await rawJwt({ alg: "ES256", x5c: [x5c] }, claims(), ecKey);
    const byJwk = await rawJwt({ alg: "ES256", jwk: ec.jwk }, claims(), ecKey);
    for (const t of [byThumb, byLibtrust, byX5c, byJwk]) expect((await verifyJwt(t, opts(keys))).sub).toBe("alice");

    // RS256 and PS256 with the RSA certificate's key.
    const rsa = keys[1]!;
    for (const alg of ["RS256", "PS256"] as const) {
      const t = await rawJwt({ alg, kid: rsa.ids[0] }, claims(), await importPrivate(rsaPem, alg));
      expect((await verifyJwt(t, opts(keys))).sub).toBe("alice");
    }
  });

  it("refuses an x5c leaf that is not in the bundle, even when its key signed the token", async () => {
    const keys = await loadTrustedKeys(parseCertBundle(fixture("issuer-rsa.crt"), "B"));
    const ecCert = certificateSpki(parseCertBundle(fixture("issuer-ec.crt"), "B")[0]!.cert!);
    expect(ecCert.type).toEqual({ kty: "EC", crv: "P-256" });
    const x5c = fixture("issuer-ec.crt").replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    const t = await rawJwt({ alg: "ES256", x5c: [x5c] }, claims(), await importPrivate(ecPem, "ES256"));
    await rejects(verifyJwt(t, opts(keys)), /certificate is not trusted/);
  });

  it("reads a JWKS: kid lookup, alg pinning, and entries it cannot use are skipped", async () => {
    const kp = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const pub = await crypto.subtle.exportKey("jwk", kp.publicKey);
    const jwks = JSON.stringify({
      keys: [
        { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "ed" },
        { ...pub, kid: "enc-key", use: "enc" },
        { ...pub, kid: "k1", alg: "ES256", use: "sig" },
      ],
    });
    const keys = await loadTrustedKeys(parseJwks(jwks, "J"));
    expect(keys.map((k) => k.ids)).toEqual([["k1"]]);
    const good = await rawJwt({ alg: "ES256", kid: "k1" }, claims(), kp.privateKey);
    expect((await verifyJwt(good, opts(keys))).sub).toBe("alice");
    await rejects(verifyJwt(await rawJwt({ alg: "ES256", kid: "enc-key" }, claims(), kp.privateKey), opts(keys)), /unknown key id/);
  });

  it("rejects bad key material with errors that name the setting and never the secret", async () => {
    const secret = await ecKeyPem();
    const bad = (f: () => unknown): ConfigError => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).message).not.toContain(secret.split("\n")[1]!.slice(0, 20));
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    };
    expect(bad(() => parsePrivateKey(secret.replace(/PRIVATE KEY/g, "EC PRIVATE KEY"), "BERTH_AUTH_TOKEN_KEY")).message).toMatch(/openssl pkcs8 -topk8/);
    expect(bad(() => parsePrivateKey(secret.replace(/PRIVATE KEY/g, "ENCRYPTED PRIVATE KEY"), "K")).message).toMatch(/unencrypted PKCS#8/);
    expect(bad(() => parsePrivateKey(secret + secret, "K")).message).toMatch(/exactly one/);
    expect(bad(() => parsePrivateKey(secret.slice(0, 60), "K")).message).toMatch(/no END line/);
    expect(bad(() => parsePrivateKey('{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}', "K")).message).toMatch(/private part/);
    expect(bad(() => parseJwks('{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}', "J")).message).toMatch(/private key/);
    expect(bad(() => parseJwks('{"keys":[]}', "J")).message).toMatch(/no usable/);
    expect(bad(() => parseJwks("[]", "J")).message).toMatch(/JWK set/);
    expect(bad(() => parseCertBundle("", "B")).message).toMatch(/no PEM CERTIFICATE/);
    expect(bad(() => parseCertBundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "B")).message).toMatch(/certificate 1/);
  });

  it("reads truncated or corrupted certificates as errors, never past their end", () => {
    const der = parseCertBundle(fixture("issuer-rsa.crt"), "B")[0]!.cert!;
    for (let n = 0; n < der.length; n += 7) expect(() => certificateSpki(der.slice(0, n))).toThrow(Error);
    for (let i = 0; i < 64; i++) {
      const bad = der.slice();
      bad[i] = bad[i]! ^ 0xff;
      try {
        certificateSpki(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }
  });

  it("refuses RSA keys shorter than 2048 bits", async () => {
    await expect(loadSigningKey(parsePrivateKey(await rsaKeyPem(1024), "K"))).rejects.toThrow(/2048/);
  });
});
