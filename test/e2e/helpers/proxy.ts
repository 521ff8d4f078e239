// A keep-alive HTTP/1.1 proxy on 127.0.0.1 that passes every request on to a target unchanged (headers, Host
// included, and the client's framing: Node re-sends a chunked body chunked, a sized one sized) and keeps a
// record of each: what `record` makes of the request (it may listen to the body), the answer's status, and
// whatever `answered` takes from the answer. Put in front of Berth or an upstream to see what passed.
import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxyRecord {
  status?: number;
}

export interface Proxy<R extends ProxyRecord> {
  url: string;
  host: string;
  seen: R[];
  close(): Promise<void>;
}

export interface ProxyOptions<R> {
  /** Called with each answer's head (its body still flows to the client). */
  answered?: (rec: R, res: IncomingMessage) => void;
  /** A request the target has not answered within this long fails with a 502 (default 120 s). */
  timeoutMs?: number;
  /** Sockets kept open to the target (default 8). */
  maxSockets?: number;
}

/** `target` may be a function, read at each request, for a proxy started before what it leads to. */
export async function recordingProxy<R extends ProxyRecord>(
  target: string | (() => string),
  record: (req: IncomingMessage) => R,
  opts: ProxyOptions<R> = {},
): Promise<Proxy<R>> {
  const targetUrl = () => new URL(typeof target === "string" ? target : target());
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8 });
  const seen: R[] = [];
  const server = http.createServer((req, res) => {
    const rec = record(req);
    seen.push(rec);
    const t = targetUrl();
    const up = http.request({ host: t.hostname, port: Number(t.port), method: req.method, path: req.url, headers: req.headers, agent }, (ures) => {
      rec.status = ures.statusCode;
      opts.answered?.(rec, ures);
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.rawHeaders);
      ures.pipe(res);
    });
    up.setTimeout(opts.timeoutMs ?? 120_000, () => up.destroy(new Error("upstream timeout")));
    up.on("error", (e) => {
      rec.status ??= 502;
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" });
      res.end(String(e));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
