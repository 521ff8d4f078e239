// Unit tests of the S3 client's signing helpers: AWS Signature Version 2 against the examples published in
// AWS's "Signing and authenticating REST requests (AWS signature version 2)" page (credentials
// AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket "johnsmith": the newer page renamed
// the bucket to awsexamplebucket1 but kept the johnsmith-era signatures), plus the pure-TS MD5 fallback.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { md5, md5Digest } from "../../src/storage/driver/s3/md5";
import {
  canonicalAmzHeaders,
  canonicalResource,
  hmacSha1Base64,
  presignV2Url,
  signV2Headers,
  stringToSignV2,
} from "../../src/storage/driver/s3/sigv2";

const creds = { accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

async function authorization(
  method: string,
  resourcePath: string,
  headers: Record<string, string>,
  query?: [string, string][],
): Promise<string | null> {
  const h = new Headers(headers);
  await signV2Headers({ method, resourcePath, query, headers: h }, creds);
  return h.get("authorization");
}

describe("SigV2: AWS documentation examples", () => {
  it("Object GET (virtual-hosted: the bucket appears in the resource)", async () => {
    expect(await authorization("GET", "/johnsmith/photos/puppy.jpg", { date: "Tue, 27 Mar 2007 19:36:42 +0000" })).toBe(
      "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    );
  });

  it("Object PUT (Content-Type signed, Content-MD5 empty)", async () => {
    const auth = await authorization("PUT", "/johnsmith/photos/puppy.jpg", {
      "content-type": "image/jpeg",
      "content-length": "94328",
      date: "Tue, 27 Mar 2007 21:15:45 +0000",
    });
    expect(auth).toBe("AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg=");
  });

  it("List (ordinary query parameters are not signed; trailing slash kept)", async () => {
    const query: [string, string][] = [
      ["prefix", "photos"],
      ["max-keys", "50"],
      ["marker", "puppy"],
    ];
    const auth = await authorization(
      "GET",
      "/johnsmith/",
      { "user-agent": "Mozilla/5.0", date: "Tue, 27 Mar 2007 19:42:41 +0000" },
      query,
    );
    expect(auth).toBe("AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U=");
  });

  it("Fetch ?acl (a valueless sub-resource is signed by name)", async () => {
    const auth = await authorization("GET", "/johnsmith/", { date: "Tue, 27 Mar 2007 19:44:46 +0000" }, [["acl", ""]]);
    expect(auth).toBe("AWS AKIAIOSFODNN7EXAMPLE:c2WLPFtWHVgbEmeEG93a4cG37dM=");
  });

  it("Delete: the published string to sign gives the published signature", async () => {
    // The page's request carries x-amz-date, yet its string to sign puts that time in the Date position
    // and lists no x-amz-date header (contradicting the page's own rule); the signature matches that string.
    const toSign = stringToSignV2({
      method: "DELETE",
      dateOrExpires: "Tue, 27 Mar 2007 21:20:26 +0000",
      resourcePath: "/johnsmith/photos/puppy.jpg",
    });
    expect(toSign).toBe("DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg");
    expect(await hmacSha1Base64(creds.secretKey, toSign)).toBe("lx3byBScXR6KzyMaifNkardMwNk=");
  });

  it("Upload: x-amz-* headers lowercased, sorted, repeats joined with ',' (CNAME bucket)", async () => {
    const amz: [string, string][] = [
      ["x-amz-acl", "public-read"],
      ["X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"],
      ["X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"],
      ["X-Amz-Meta-FileChecksum", "0x02661779"],
      ["X-Amz-Meta-ChecksumAlgorithm", "crc32"],
      ["Content-Disposition", "attachment; filename=database.dat"],
    ];
    const toSign = stringToSignV2({
      method: "PUT",
      contentMd5: "4gJE4saaMU4BqNR0kLY+lw==",
      contentType: "application/x-download",
      dateOrExpires: "Tue, 27 Mar 2007 21:06:08 +0000",
      amzHeaders: amz,
      resourcePath: "/static.johnsmith.net/db-backup.dat.gz",
    });
    expect(toSign).toBe(
      "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
        "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
        "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz",
    );
    expect(await hmacSha1Base64(creds.secretKey, toSign)).toBe("ilyl83RwaSoYIEdixDQcA4OnAnc=");
  });

  it("List all my buckets", async () => {
    expect(await authorization("GET", "/", { date: "Wed, 28 Mar 2007 01:29:59 +0000" })).toBe(
      "AWS AKIAIOSFODNN7EXAMPLE:qGdzdERIC03wnaRNKh6OqZehG9s=",
    );
  });

  it("Unicode keys: the resource is signed literally as encoded on the wire", async () => {
    expect(
      await authorization("GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", { date: "Wed, 28 Mar 2007 01:49:49 +0000" }),
    ).toBe("AWS AKIAIOSFODNN7EXAMPLE:DNEZGsoieTZ92F3bUfSPQcbGmlM=");
  });

  it("query-string authentication (presigned URL)", async () => {
    const url = await presignV2Url(
      {
        method: "GET",
        url: new URL("https://johnsmith.s3.amazonaws.com/photos/puppy.jpg"),
        resourcePath: "/johnsmith/photos/puppy.jpg",
        expires: 1175139620,
      },
      creds,
    );
    expect(url.searchParams.get("AWSAccessKeyId")).toBe("AKIAIOSFODNN7EXAMPLE");
    expect(url.searchParams.get("Expires")).toBe("1175139620");
    expect(url.searchParams.get("Signature")).toBe("NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    // On the wire the base64 signature is percent-encoded, as in the published URL.
    expect(url.search).toContain("Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D");
  });
});

describe("SigV2: canonicalization details", () => {
  it("x-amz-date empties the Date position and is signed as a header", async () => {
    const h = new Headers();
    await signV2Headers({ method: "GET", resourcePath: "/b/k", headers: h }, creds, new Date(Date.UTC(2024, 0, 2, 3, 4, 5)));
    expect(h.get("x-amz-date")).toBe("Tue, 02 Jan 2024 03:04:05 GMT");
    const expected = await hmacSha1Base64(creds.secretKey, "GET\n\n\n\nx-amz-date:Tue, 02 Jan 2024 03:04:05 GMT\n/b/k");
    expect(h.get("authorization")).toBe(`AWS AKIAIOSFODNN7EXAMPLE:${expected}`);
  });

  it("signs only sub-resources, sorted, values decoded; ignores other parameters", () => {
    expect(
      canonicalResource("/b/k", [
        ["uploadId", "a/b=c"],
        ["partNumber", "3"],
        ["list-type", "2"],
        ["X-Amz-Foo", "x"],
      ]),
    ).toBe("/b/k?partNumber=3&uploadId=a/b=c");
    expect(canonicalResource("/b/k", [["uploads", ""]])).toBe("/b/k?uploads");
    expect(canonicalResource("/b", [["delete", ""]])).toBe("/b?delete");
    expect(canonicalResource("/b/k", [["response-content-type", "text/plain"]])).toBe("/b/k?response-content-type=text/plain");
  });

  it("trims values and unfolds folded header lines", () => {
    expect(canonicalAmzHeaders([["X-Amz-Meta-A", "  x \r\n   y  "], ["Host", "h"]])).toBe("x-amz-meta-a:x y\n");
  });

  it("copy source and storage headers are signed among x-amz-*", async () => {
    const h = new Headers({ "x-amz-copy-source": "/b/src%3Ax", "x-amz-storage-class": "STANDARD", date: "D" });
    await signV2Headers({ method: "PUT", resourcePath: "/b/dst", headers: h }, creds);
    const expected = await hmacSha1Base64(
      creds.secretKey,
      "PUT\n\n\nD\nx-amz-copy-source:/b/src%3Ax\nx-amz-storage-class:STANDARD\n/b/dst",
    );
    expect(h.get("authorization")).toBe(`AWS AKIAIOSFODNN7EXAMPLE:${expected}`);
  });
});

describe("MD5 fallback (Content-MD5 of DeleteObjects bodies)", () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

  it("matches the RFC 1321 test suite", () => {
    const cases: [string, string][] = [
      ["", "d41d8cd98f00b204e9800998ecf8427e"],
      ["a", "0cc175b9c0f1b6a831c399e269772661"],
      ["abc", "900150983cd24fb0d6963f7d28e17f72"],
      ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
      ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
      ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
      ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
    ];
    for (const [input, digest] of cases) expect(hex(md5(new TextEncoder().encode(input)))).toBe(digest);
  });

  it("matches node:crypto around block boundaries and on large input", async () => {
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 300_000]) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
      const expected = createHash("md5").update(data).digest("hex");
      expect(hex(md5(data))).toBe(expected);
      // Node's WebCrypto lacks MD5, so md5Digest must fall back to the same result.
      expect(hex(await md5Digest(data))).toBe(expected);
    }
  });
});
