// Minimal XML reading and writing for the S3 client. workerd has no DOMParser, and S3 answers are small,
// regular documents (ListObjectsV2 pages, multipart results, <Error> bodies), so a tiny tree builder is
// enough: element names, nesting, and decoded character data. Attributes, namespaces and DTDs are ignored
// because no S3 field we read lives in them. Also holds the escaping used for the request bodies we build
// (CompleteMultipartUpload, DeleteObjects).

export interface XmlElement {
  /** Local name: a namespace prefix ("s3:Key") is dropped, S3 documents use a default namespace. */
  name: string;
  children: XmlElement[];
  /** Character data directly inside this element, entities decoded (whitespace kept as sent). */
  text: string;
}

export class XmlError extends Error {
  constructor(message: string) {
    super(`malformed XML: ${message}`);
    this.name = "XmlError";
  }
}

const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Decodes the five predefined XML entities and numeric character references; anything else is kept as is. */
export function decodeXmlText(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      // XML allows only a lowercase x for hexadecimal references.
      const code = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      // Out-of-range references cannot become a character; keep them rather than throw mid-listing.
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref] ?? whole;
  });
}

/** Escapes text for element content or attribute values of a request body we build. */
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function localName(qname: string): string {
  const colon = qname.indexOf(":");
  return colon >= 0 ? qname.slice(colon + 1) : qname;
}

/** Index just past the `>` closing the tag that starts at `start`, skipping quoted attribute values. */
function tagEnd(xml: string, start: number): number {
  let quote = "";
  for (let i = start; i < xml.length; i++) {
    const c = xml[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === ">") {
      return i + 1;
    }
  }
  throw new XmlError("unterminated tag");
}

function skipPast(xml: string, from: number, terminator: string, what: string): number {
  const end = xml.indexOf(terminator, from);
  if (end < 0) throw new XmlError(`unterminated ${what}`);
  return end + terminator.length;
}

/** Parses a document and returns its root element. Throws XmlError on unbalanced or missing elements. */
export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const textEnd = lt < 0 ? xml.length : lt;
    const top = stack[stack.length - 1];
    if (textEnd > i && top) top.text += decodeXmlText(xml.slice(i, textEnd));
    if (lt < 0) break;
    if (xml.startsWith("<?", lt)) {
      i = skipPast(xml, lt + 2, "?>", "processing instruction");
    } else if (xml.startsWith("<!--", lt)) {
      i = skipPast(xml, lt + 4, "-->", "comment");
    } else if (xml.startsWith("<![CDATA[", lt)) {
      const end = skipPast(xml, lt + 9, "]]>", "CDATA section");
      if (top) top.text += xml.slice(lt + 9, end - 3);
      i = end;
    } else if (xml.startsWith("<!", lt)) {
      i = tagEnd(xml, lt + 2); // DOCTYPE: S3 never sends an internal subset
    } else if (xml.startsWith("</", lt)) {
      const end = tagEnd(xml, lt + 2);
      const name = localName(xml.slice(lt + 2, end - 1).trim());
      const open = stack.pop();
      if (!open || open.name !== name) throw new XmlError(`unexpected </${name}>`);
      i = end;
    } else {
      const end = tagEnd(xml, lt + 1);
      const selfClosing = xml[end - 2] === "/";
      const inner = xml.slice(lt + 1, selfClosing ? end - 2 : end - 1);
      const qname = /^[^\s/>]+/.exec(inner)?.[0];
      if (!qname) throw new XmlError("element without a name");
      const el: XmlElement = { name: localName(qname), children: [], text: "" };
      if (top) top.children.push(el);
      else if (root) throw new XmlError("more than one root element");
      else root = el;
      if (!selfClosing) stack.push(el);
      i = end;
    }
  }
  if (stack.length > 0) throw new XmlError(`unclosed <${stack[stack.length - 1]?.name}>`);
  if (!root) throw new XmlError("no root element");
  return root;
}

/** Direct children of `el` named `name`, in document order (repeated elements like <Contents>). */
export function childElements(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The first direct child named `name`. Only direct children count, so a top-level <Prefix> of a listing is
 * not confused with the <Prefix> inside each <CommonPrefixes>. */
export function childElement(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Text of the first direct child named `name`, or undefined when there is none. */
export function childText(el: XmlElement, name: string): string | undefined {
  return childElement(el, name)?.text;
}

/** Reads the root of an S3 body if it parses; S3-compatible servers sometimes answer with HTML or nothing. */
export function tryParseXml(xml: string): XmlElement | undefined {
  try {
    return parseXml(xml);
  } catch {
    return undefined;
  }
}
