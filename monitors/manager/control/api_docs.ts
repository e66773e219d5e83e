/**
 * The API documentation at `/docs`: Swagger UI over the control plane's OpenAPI document,
 * with its script and stylesheet served by the control plane itself from the pinned npm
 * package `swagger-ui-dist` (see deno.json), so the page works on a machine with no
 * internet. Nothing on the page asks another host for anything: the online spec
 * validator is switched off.
 *
 * @module
 */

import type { Context, Hono } from "npm:hono@4.13.19";
import swaggerUiDistPath from "npm:swagger-ui-dist@5.35.0/absolute-path.js";

/** The files of `swagger-ui-dist` the page loads, with their content types. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/** Where the assets are served, below the docs page. */
const ASSET_PREFIX = "/docs/assets/";

/** The docs page for the OpenAPI document at `specUrl`. */
export function apiDocsHtml(specUrl: string): string {
  const spec = JSON.stringify(specUrl).replaceAll("<", "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>legoemu control plane API</title>
<link rel="icon" type="image/png" href="${ASSET_PREFIX}favicon-32x32.png">
<link rel="stylesheet" href="${ASSET_PREFIX}swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${ASSET_PREFIX}swagger-ui-bundle.js"></script>
<script>
  window.ui = SwaggerUIBundle({
    url: ${spec},
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
  });
</script>
</body>
</html>
`;
}

/** Asset bytes, read once per file. */
const cache = new Map<string, Promise<Uint8Array>>();

function readAsset(name: string): Promise<Uint8Array> {
  let bytes = cache.get(name);
  if (!bytes) {
    const dir: string = swaggerUiDistPath();
    bytes = Deno.readFile(`${dir}/${name}`);
    // A failed read is tried again at the next request.
    bytes.catch(() => cache.delete(name));
    cache.set(name, bytes);
  }
  return bytes;
}

/**
 * Adds `GET /docs` (Swagger UI for the document at `specUrl`) and `GET /docs/assets/*`
 * (its files from `swagger-ui-dist`) to `app`.
 *
 * @example
 * ```ts
 * import { Hono } from "npm:hono@4.13.19";
 * import { mountApiDocs } from "./api_docs.ts";
 * const app = new Hono();
 * mountApiDocs(app, "/openapi.json");
 * const page = await app.request("/docs");
 * console.assert((await page.text()).includes("/docs/assets/swagger-ui-bundle.js"));
 * const script = await app.request("/docs/assets/swagger-ui-bundle.js");
 * console.assert(script.status === 200);
 * ```
 */
// deno-lint-ignore no-explicit-any -- every Hono app, whatever its routes' types
export function mountApiDocs(app: Hono<any, any, any>, specUrl: string): void {
  const page = apiDocsHtml(specUrl);
  app.get("/docs", (c: Context) => c.html(page));
  app.get(`${ASSET_PREFIX}:file`, async (c: Context) => {
    const name = c.req.param("file") ?? "";
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return c.json({ error: `no docs asset "${name}"` }, 404);
    try {
      const bytes = await readAsset(name);
      return c.body(bytes.slice().buffer, 200, {
        "content-type": type,
        // The package is pinned: an asset changes only with a new release of legoemu.
        "cache-control": "public, max-age=3600",
      });
    } catch (e) {
      return c.json({ error: `docs asset "${name}" is unreadable: ${(e as Error).message}` }, 500);
    }
  });
}
