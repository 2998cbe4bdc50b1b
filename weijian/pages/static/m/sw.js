// The field app's service worker. The server writes in SHELL: the shell's version (a hash of
// its files) and its URLs. It keeps:
// - the app shell (page, modules, style, icons, Leaflet) in a cache named by that version,
//   answered from the cache first (a new version fills a new cache and drops the old);
// - the API's GET answers, network first: the last answer is kept and given when the network
//   fails (marked with the header X-Weijian-Offline: 1);
// and never touches anything else: a POST, PUT, PATCH or DELETE always goes to the network.

const SHELL = "__SHELL__";
const SHELL_CACHE = "weijian-m-shell-" + SHELL.version;
const API_CACHE = "weijian-m-api";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // one by one: a file missing from this build does not stop the rest
    await Promise.all(SHELL.urls.map((url) => cache.add(new Request(url, { cache: "no-cache" })).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("weijian-m-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function shellFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  const url = new URL(request.url);
  const key = url.pathname === "/m" || url.pathname === "/m/" ? "/m" : request;
  const hit = await cache.match(key, { ignoreSearch: url.pathname === "/m" });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && request.method === "GET") cache.put(key, response.clone());
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.status === 200) await cache.put(request, response.clone());
    return response;
  } catch (e) {
    const hit = await cache.match(request);
    if (!hit) throw e;
    const headers = new Headers(hit.headers);
    headers.set("X-Weijian-Offline", "1");
    return new Response(await hit.blob(), { status: hit.status, statusText: hit.statusText, headers });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // never cached: straight to the network
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (path === "/m/sw.js") return;
  if (path.startsWith("/api/v1/")) {
    if (path.startsWith("/api/v1/auth/login")) return;
    event.respondWith(networkFirst(request));
    return;
  }
  const inShell = path === "/m" || path === "/m/" || SHELL.urls.includes(path);
  if (inShell) event.respondWith(shellFirst(request));
});
