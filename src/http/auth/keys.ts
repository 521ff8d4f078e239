// The keys of token authentication, imported with jose: Berth's own signing key (with its public half, to
// verify what it signed), and an external issuer's public keys, each known by every id a token may name it
// by. The settings were read at startup and their algorithms settled (config/keys.ts); importing is
// asynchronous, done on first use, and cached per isolate by the auth runtime (token-endpoint.ts).

import type { JWK } from "jose";
import { decode as fromB64url } from "jose/base64url";
import { calculateJwkThumbprint } from "jose/jwk/thumbprint";
import { exportJWK } from "jose/key/export";
import { importJWK, importPKCS8, importX509 } from "jose/key/import";
import { algMatchesKey, defaultAlg, type Jwk, type JwsAlg, type KeyType, type PrivateKeySpec, type PublicKeySpec } from "../../config/keys";

// A WebCrypto key, spelled through the global `crypto` itself: src/ compiles with Workers' types, the tests
// with Node's, and the two name this type differently.
export type Key = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const MIN_RSA_BITS = 2048;

/** The public members only. */
function publicJwk(k: Jwk | JWK): Jwk {
  return k.kty === "EC" ? { kty: "EC", crv: k.crv, x: k.x, y: k.y } : { kty: "RSA", n: k.n, e: k.e };
}

/** RFC 7638 thumbprint: what Distribution v3 uses as the key id of certificate keys, and Berth of its own. */
export function thumbprint(jwk: Jwk | JWK): Promise<string> {
  return calculateJwkThumbprint(jwk as JWK, "sha256");
}

/** libtrust's key id (Distribution v2, GitLab, docker_auth): base32 of SHA-256(SPKI)[:30] in groups of 4. */
export async function libtrustKeyId(spki: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", spki)).slice(0, 30);
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let s = "";
  for (const b of h) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      s += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return s.match(/.{4}/g)!.join(":");
}

/** A trusted public key with every id it is known by; imported per algorithm on demand. */
export class TrustedKey {
  private readonly imported = new Map<JwsAlg, Promise<Key>>();
  constructor(
    /** The public JWK (its members only). */
    readonly jwk: Jwk,
    readonly type: KeyType,
    readonly ids: readonly string[],
    /** RFC 7638 thumbprint: how a token's embedded `jwk` header is recognised as this key. */
    readonly thumbprint: string,
    /** The certificate it came from (DER), which a token's `x5c` leaf must equal. */
    readonly cert: Uint8Array | undefined,
    /** Set when the key may only be used with one algorithm (a JWK's `alg`, Berth's own key). */
    readonly onlyAlg: JwsAlg | undefined,
  ) {}

  fits(alg: JwsAlg): boolean {
    return (this.onlyAlg === undefined || this.onlyAlg === alg) && algMatchesKey(alg, this.type);
  }

  /** The key imported for verifying `alg` (which must fit). */
  key(alg: JwsAlg): Promise<Key> {
    let p = this.imported.get(alg);
    if (!p) {
      p = importJWK(this.jwk as JWK, alg) as Promise<Key>;
      this.imported.set(alg, p);
    }
    return p;
  }
}

function checkRsaSize(jwk: Jwk): void {
  if (jwk.kty === "RSA" && fromB64url(jwk.n ?? "").length * 8 < MIN_RSA_BITS) {
    throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits`);
  }
}

async function spkiOf(key: Key): Promise<Uint8Array> {
  return new Uint8Array((await crypto.subtle.exportKey("spki", key)) as ArrayBuffer);
}

/** Imports configured public keys and indexes them by kid, RFC 7638 thumbprint and libtrust id. */
export async function loadTrustedKeys(specs: readonly PublicKeySpec[]): Promise<TrustedKey[]> {
  const out: TrustedKey[] = [];
  for (const spec of specs) {
    const alg = spec.alg ?? defaultAlg(spec.type);
    const imported: Key =
      spec.certPem !== undefined
        ? await importX509(spec.certPem, alg, { extractable: true })
        : ((await importJWK(publicJwk(spec.jwk!) as JWK, alg, { extractable: true })) as Key);
    const jwk = publicJwk(await exportJWK(imported));
    checkRsaSize(jwk);
    const thumb = await thumbprint(jwk);
    const ids = new Set<string>();
    if (spec.kid) ids.add(spec.kid);
    if (!spec.kid || spec.cert) {
      ids.add(thumb);
      ids.add(await libtrustKeyId(await spkiOf(imported)));
    }
    out.push(new TrustedKey(jwk, spec.type, [...ids], thumb, spec.cert, spec.alg));
  }
  return out;
}

/** Berth's own key, imported for signing, with its public half for verifying what it signed. */
export interface LoadedSigningKey {
  alg: JwsAlg;
  kid: string;
  privateKey: Key;
  publicKey: TrustedKey;
}

export async function loadSigningKey(spec: PrivateKeySpec): Promise<LoadedSigningKey> {
  let pub: Jwk;
  let privateKey: Key;
  if (spec.jwk !== undefined) {
    pub = publicJwk(spec.jwk);
    checkRsaSize(pub);
    privateKey = (await importJWK(spec.jwk as JWK, spec.alg, { extractable: false })) as Key;
  } else {
    // Imported once extractable only to read the public half; the signing key itself is not extractable.
    pub = publicJwk(await exportJWK(await importPKCS8(spec.pkcs8Pem!, spec.alg, { extractable: true })));
    checkRsaSize(pub);
    privateKey = await importPKCS8(spec.pkcs8Pem!, spec.alg, { extractable: false });
  }
  const thumb = await thumbprint(pub);
  const kid = spec.kid ?? thumb;
  return { alg: spec.alg, kid, privateKey, publicKey: new TrustedKey(pub, spec.type, [kid], thumb, undefined, spec.alg) };
}
