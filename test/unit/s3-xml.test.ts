// Unit tests of the S3 client's minimal XML reader/escaper, on documents shaped like real S3 answers
// (ListObjectsV2 with CommonPrefixes, DeleteObjects results, <Error> bodies).
import { describe, expect, it } from "vitest";
import {
  childElement,
  childElements,
  childText,
  decodeXmlText,
  escapeXml,
  parseXml,
  tryParseXml,
  XmlError,
} from "../../src/storage/driver/s3/xml";

const LIST = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>registry</Name>
  <Prefix>docker/registry/v2/repositories/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>2</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <EncodingType>url</EncodingType>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>a%20b</Key>
    <LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>
    <Size>0</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents><Key>c&amp;d</Key><Size>12</Size></Contents>
  <CommonPrefixes><Prefix>docker/registry/v2/repositories/library/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>docker/registry/v2/repositories/other/</Prefix></CommonPrefixes>
</ListBucketResult>`;

describe("parseXml", () => {
  it("reads a ListObjectsV2 page: repeated blocks, nested Prefix not confused with the top-level one", () => {
    const root = parseXml(LIST);
    expect(root.name).toBe("ListBucketResult");
    expect(childText(root, "Prefix")).toBe("docker/registry/v2/repositories/");
    expect(childText(root, "IsTruncated")).toBe("true");
    expect(childText(root, "NextContinuationToken")).toBe("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    const contents = childElements(root, "Contents");
    expect(contents.map((c) => [childText(c, "Key"), childText(c, "Size")])).toEqual([
      ["a%20b", "0"],
      ["c&d", "12"],
    ]);
    expect(childText(contents[0]!, "ETag")).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
    expect(childElements(root, "CommonPrefixes").map((p) => childText(p, "Prefix"))).toEqual([
      "docker/registry/v2/repositories/library/",
      "docker/registry/v2/repositories/other/",
    ]);
    expect(childText(root, "Missing")).toBeUndefined();
    expect(childElements(root, "Missing")).toEqual([]);
  });

  it("reads an <Error> body", () => {
    const root = parseXml(
      `<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b</Key><RequestId>tx1</RequestId></Error>`,
    );
    expect(root.name).toBe("Error");
    expect(childText(root, "Code")).toBe("NoSuchKey");
    expect(childText(root, "Key")).toBe("a/b");
  });

  it("reads DeleteObjects results with per-key errors", () => {
    const root = parseXml(
      `<DeleteResult><Deleted><Key>x</Key></Deleted><Error><Key>y</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>`,
    );
    const errors = childElements(root, "Error");
    expect(errors).toHaveLength(1);
    expect(childText(errors[0]!, "Code")).toBe("AccessDenied");
    expect(childText(childElement(root, "Deleted")!, "Key")).toBe("x");
  });

  it("handles self-closing elements, attributes with '>' in quotes, comments, CDATA, DOCTYPE, prefixes", () => {
    const root = parseXml(
      `<!DOCTYPE x><!-- c --><s3:R xmlns:s3="u" a="1>2" b='x'><E/><E k="v" /><T><![CDATA[<raw & stuff>]]>&amp;</T><s3:N>n</s3:N></s3:R>`,
    );
    expect(root.name).toBe("R");
    expect(childElements(root, "E")).toHaveLength(2);
    expect(childText(root, "E")).toBe("");
    expect(childText(root, "T")).toBe("<raw & stuff>&");
    expect(childText(root, "N")).toBe("n");
  });

  it("keeps whitespace inside text elements", () => {
    expect(childText(parseXml("<R><K>  a b </K></R>"), "K")).toBe("  a b ");
  });

  it("rejects malformed documents", () => {
    for (const bad of ["", "text only", "<a><b></a>", "<a>", "<a></a><b></b>", "<a x='1></a>", "<a><!-- x</a>", "</a>"]) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
      expect(tryParseXml(bad)).toBeUndefined();
    }
  });

  it("tryParseXml returns undefined for HTML-ish garbage (Swift answers some errors in HTML)", () => {
    expect(tryParseXml("<html><body><h1>Bad Request</h1><p>x<br></p></body></html>")).toBeUndefined();
  });
});

describe("entities", () => {
  it("decodes the five predefined entities and numeric references", () => {
    expect(decodeXmlText("&lt;&gt;&amp;&quot;&apos;")).toBe(`<>&"'`);
    expect(decodeXmlText("&#65;&#x42;&#x1F600;")).toBe("AB\u{1F600}");
    expect(decodeXmlText("&amp;lt;")).toBe("&lt;"); // decoded once, not twice
  });

  it("keeps unknown or invalid references verbatim", () => {
    // &#X43; is not XML (hex references take a lowercase x).
    expect(decodeXmlText("&nbsp; &#x110000; &#X43; & a")).toBe("&nbsp; &#x110000; &#X43; & a");
  });

  it("escapeXml round-trips through the parser", () => {
    const nasty = `a<b>&"c'd&amp;`;
    expect(escapeXml(nasty)).toBe("a&lt;b&gt;&amp;&quot;c&apos;d&amp;amp;");
    expect(childText(parseXml(`<R><K>${escapeXml(nasty)}</K></R>`), "K")).toBe(nasty);
  });
});
