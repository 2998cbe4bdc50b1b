// The storage on the phone (IndexedDB, plain) of the field app and of the public's 随手拍: the
// offline queue of case-changing calls and a small cache of what the pages last loaded. Each
// site keeps its own database (`useDatabase`): the public form never sees the field app's.
//
// The queue: each item is one request — a report, a step, a photo (its Blob kept as a Blob),
// a batch of patrol points — with an Idempotency-Key made when it was queued and sent with
// every try, so the server makes each change once however often it is tried. Items go in the
// order they were queued. A network error or a 5xx (or 408/429) leaves the item waiting and
// tries again later, waiting longer each time; any other 4xx stops the item, marked failed
// with the server's Chinese message, until the user says 重试 or 删除. An item may depend on an
// earlier one (`dependsOn`): it waits for it, and a `{ref}` in its path becomes what the
// earlier answer named (a case's number, a patrol's id), a `{receipt}` the receipt code of a
// citizen's report. A report the server asks a proof of work for (429
// report.challenge_required) is sent again at once with the answer `solveChallenge()` gives. A step names the uploads it proves
// itself with (`evidenceFrom`, their ids): it waits for them, and their files' sha256 join
// its body's `evidence`.

let DB_NAME = "weijian-field";

// the database of this site, before anything is stored
export function useDatabase(name) {
  if (opened) throw new Error("useDatabase: the database is open already");
  DB_NAME = name;
}
const DB_VERSION = 1;
const RETRY_MAX_S = 60;
const KEEP_DONE = 20; // the last sent items shown in the queue view

let opened = null;

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, DB_VERSION);
      r.onupgradeneeded = () => {
        const d = r.result;
        if (!d.objectStoreNames.contains("queue")) d.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
        if (!d.objectStoreNames.contains("cache")) d.createObjectStore("cache", { keyPath: "key" });
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  return opened;
}

async function store(name, mode = "readonly") {
  return (await db()).transaction(name, mode).objectStore(name);
}

// -- the cache --------------------------------------------------------------------------------

export async function cache(key, value) {
  const s = await store("cache", "readwrite");
  if (value === undefined || value === null) await request(s.delete(key));
  else await request(s.put({ key, value, at: new Date().toISOString() }));
  return value;
}

export async function cached(key) {
  const row = await request((await store("cache")).get(key));
  return row ? row.value : null;
}

export async function clearAll() {
  const d = await db();
  const t = d.transaction(["queue", "cache"], "readwrite");
  t.objectStore("queue").clear();
  t.objectStore("cache").clear();
  await new Promise((resolve, reject) => { t.oncomplete = resolve; t.onerror = () => reject(t.error); });
}

// -- the queue --------------------------------------------------------------------------------

const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
  : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

// form: a FormData or [[name, value]], a value a string or a Blob/File (its name kept)
function storableForm(form) {
  if (!form) return null;
  const entries = form instanceof FormData ? [...form.entries()] : form;
  return entries.map(([name, value]) => (value instanceof Blob
    ? [name, { blob: value, filename: value.name || "photo.jpg" }]
    : [name, String(value)]));
}

export async function enqueue({ method = "POST", path, json, form, label, dependsOn, evidenceFrom, made_at }) {
  if (!path) throw new Error("enqueue: path is required");
  const item = {
    method, path, json: json === undefined ? null : json, form: storableForm(form),
    label: label || path, dependsOn: dependsOn || null, evidenceFrom: evidenceFrom || [], made_at: made_at || new Date().toISOString(),
    key: uuid(), state: "waiting", tries: 0, next_at: 0, error: null, answer: null, ref: null,
    queued_at: new Date().toISOString(),
  };
  return request((await store("queue", "readwrite")).add(item));
}

export async function items() {
  return request((await store("queue")).getAll());
}

export async function item(id) {
  return request((await store("queue")).get(id));
}

async function put(it) {
  return request((await store("queue", "readwrite")).put(it));
}

export async function remove(id) {
  return request((await store("queue", "readwrite")).delete(id));
}

export async function retry(id) {
  const it = await item(id);
  if (!it) return;
  Object.assign(it, { state: "waiting", error: null, next_at: 0, tries: 0 });
  await put(it);
}

// how many wait (waiting, sending or failed) — what the banner counts
export async function counts() {
  const all = await items();
  const c = { waiting: 0, failed: 0, done: 0 };
  for (const it of all) {
    if (it.state === "done") c.done += 1;
    else if (it.state === "failed") c.failed += 1;
    else c.waiting += 1;
  }
  c.pending = c.waiting + c.failed;
  return c;
}

const RETRY_STATUS = new Set([408, 425, 429]);

function body(it) {
  if (it.json !== null && it.json !== undefined) return { body: JSON.stringify(it.json), type: "application/json" };
  if (it.form) {
    const form = new FormData();
    for (const [name, value] of it.form) {
      if (value && typeof value === "object" && value.blob) form.append(name, value.blob, value.filename);
      else form.append(name, value);
    }
    return { body: form, type: null };
  }
  return { body: undefined, type: null };
}

// One pass over the queue, in order: resolves with what happened {sent, failed, offline,
// unauthorised}. `token()` gives the bearer token; `onChange` is called after each item.
export async function flush({ token, onChange, solveChallenge }) {
  const result = { sent: 0, failed: 0, offline: false, unauthorised: false, waitMs: null };
  const all = (await items()).sort((a, b) => a.id - b.id);
  const byId = new Map(all.map((it) => [it.id, it]));
  for (const it of all) {
    if (it.state === "done" || it.state === "failed") continue;
    let path = it.path;
    if (it.dependsOn) {
      const parent = byId.get(it.dependsOn);
      if (!parent) {
        Object.assign(it, { state: "failed", error: "所依赖的上报已删除，无法发送" });
        await put(it);
        result.failed += 1;
        continue;
      }
      if (parent.state !== "done") continue; // waits for it (failed or still waiting)
      path = path.replace("{ref}", encodeURIComponent(parent.ref))
        .replace("{receipt}", encodeURIComponent((parent.answer && parent.answer.receipt) || ""));
    }
    let json = it.json;
    if (it.evidenceFrom && it.evidenceFrom.length) {
      const uploads = it.evidenceFrom.map((id) => byId.get(id));
      if (uploads.some((u) => !u)) {
        Object.assign(it, { state: "failed", error: "所需照片已删除，无法发送" });
        await put(it);
        result.failed += 1;
        continue;
      }
      if (uploads.some((u) => u.state !== "done")) continue;
      json = { ...json, evidence: [...(json.evidence || []), ...uploads.map((u) => u.answer.sha256)] };
    }
    const now = Date.now();
    if (it.next_at > now) {
      // in order: nothing after an item waiting for its retry goes before it
      result.waitMs = it.next_at - now;
      break;
    }
    const { body: payload, type } = body({ ...it, json });
    const headers = { "Idempotency-Key": it.key };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    if (type) headers["content-type"] = type;
    let response = await send(path, it.method, headers, payload);
    if (response && response.status === 429 && solveChallenge) {
      const asked = await response.clone().json().catch(() => null);
      if (asked && asked.code === "report.challenge_required") {
        headers["X-Weijian-Challenge"] = await solveChallenge();
        response = await send(path, it.method, headers, body({ ...it, json }).body);
      }
    }
    if (response === null || response.status >= 500 || RETRY_STATUS.has(response.status)) {
      it.tries += 1;
      const wait = Math.min(RETRY_MAX_S, 2 ** it.tries) * 1000;
      it.next_at = Date.now() + wait;
      it.error = response === null ? "网络不可用，稍后自动重试" : "服务器暂时无法处理（" + response.status + "），稍后自动重试";
      await put(it);
      result.offline = response === null;
      result.waitMs = wait;
      if (onChange) onChange(it);
      break;
    }
    if (response.status === 401) {
      result.unauthorised = true; // the item waits for a new login
      break;
    }
    let answer = null;
    try { answer = await response.json(); } catch (e) { /* 204 or not JSON */ }
    if (response.ok) {
      const ref = answer && (answer.number || answer.id);
      Object.assign(it, { state: "done", answer, ref: ref == null ? null : String(ref), error: null, sent_at: new Date().toISOString(), path });
      if (it.form) it.form = null; // the photo is on the server now: its bytes leave the phone
      result.sent += 1;
    } else {
      Object.assign(it, {
        state: "failed", status: response.status,
        error: (answer && answer.message) || "请求未能完成（" + response.status + "）",
      });
      result.failed += 1;
    }
    await put(it);
    if (onChange) onChange(it);
  }
  await prune();
  return result;
}

async function send(path, method, headers, payload) {
  try {
    return await fetch(path, { method, headers, body: payload });
  } catch (e) {
    return null;
  }
}

// done items go once nothing waiting depends on them, the last few kept for the queue view
async function prune() {
  const all = (await items()).sort((a, b) => a.id - b.id);
  const needed = new Set(all.filter((it) => it.state !== "done")
    .flatMap((it) => [it.dependsOn, ...(it.evidenceFrom || [])]).filter(Boolean));
  const done = all.filter((it) => it.state === "done" && !needed.has(it.id));
  for (const it of done.slice(0, Math.max(0, done.length - KEEP_DONE))) await remove(it.id);
}
