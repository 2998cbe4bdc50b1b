// The API client every page uses. The bearer token lives in sessionStorage under
// "weijian.token" — the supervisors' map keeps it there too, so one login serves both.
// Every API error answers {code, message, detail, hint}: `message` is the Chinese a person
// reads, and it is what an ApiError carries.

export const TOKEN_KEY = "weijian.token";

// what tests (and a curious user's console) can read: requests in flight, errors shown
export const probe = (window.weijianWork = window.weijianWork || {
  ready: false, pending: 0, errors: [], renders: 0,
});

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || fallbackMessage(status));
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || "http." + status;
  }
}

function fallbackMessage(status) {
  if (status === 0) return "无法连接服务器，请检查网络后重试";
  if (status === 413) return "上传的文件过大";
  if (status >= 500) return "服务器暂时无法处理请求（" + status + "），请稍后重试";
  return "请求未能完成（" + status + "）";
}

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra) {
  const token = getToken();
  return { ...(extra || {}), ...(token ? { Authorization: "Bearer " + token } : {}) };
}

function failed(status, body) {
  const error = new ApiError(status, body);
  if (status === 401) {
    setToken(null);
    window.dispatchEvent(new CustomEvent("weijian:login-needed", { detail: error }));
  }
  return error;
}

// fetch with the token; `json` is sent as the body (POST unless `method` says otherwise).
// Resolves with the Response when it is OK, else rejects with an ApiError.
export async function api(path, options = {}) {
  const { json, ...rest } = options;
  const init = { ...rest, headers: authHeaders(rest.headers) };
  if (json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  }
  probe.pending += 1;
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null);
  } finally {
    probe.pending -= 1;
  }
  if (response.ok) return response;
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  throw failed(response.status, body);
}

export const getJSON = async (path) => (await api(path)).json();
export const sendJSON = async (path, json, method) => (await api(path, { json, method })).json();

// answers that do not change while a page is open (the workflow, the user), asked once
const asked = new Map();
export function once(path) {
  if (!asked.has(path)) {
    const answer = getJSON(path);
    answer.catch(() => asked.delete(path));
    asked.set(path, answer);
  }
  return asked.get(path);
}

// a file of the API as an object URL: an <img> or <iframe> cannot send the token itself.
// Kept for the page's life: the same thumbnail is shown again after every reload.
const blobs = new Map();
export function blobURL(path) {
  if (!blobs.has(path)) {
    const url = api(path).then((r) => r.blob()).then((b) => URL.createObjectURL(b));
    url.catch(() => blobs.delete(path));
    blobs.set(path, url);
  }
  return blobs.get(path);
}

// a multipart upload with progress (fetch cannot report an upload's progress): resolves
// with the answer's JSON, rejects with an ApiError
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    probe.pending += 1;
    xhr.addEventListener("loadend", () => {
      probe.pending -= 1;
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(xhr.status === 0 ? new ApiError(0, null) : failed(xhr.status, xhr.response));
    });
    xhr.send(form);
  });
}
