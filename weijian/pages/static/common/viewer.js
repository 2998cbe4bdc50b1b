// A viewer over the page: photos large, one after another (←/→, a swipe, the buttons; Esc
// closes), and PDF documents in the page. Files are fetched with the token (an <img> cannot
// send it) and shown from object URLs.

import { api, blobURL, probe } from "./api.js";
import { h } from "./dom.js";

let el = null;
let photos = [];
let index = 0;

function build() {
  if (el) return el;
  el = h("div", { id: "viewer", hidden: true, role: "dialog", "aria-modal": "true", "aria-label": "查看文件" });
  el.innerHTML =
    "<div class='viewer-bar'><span class='viewer-title'></span>" +
    "<a class='viewer-download button' hidden>下载</a>" +
    "<button type='button' class='viewer-close' aria-label='关闭'>×</button></div>" +
    "<div class='viewer-stage'><button type='button' class='viewer-prev' aria-label='上一张'>‹</button>" +
    "<img class='viewer-image' alt=''><iframe class='viewer-frame' title='文件内容' hidden></iframe>" +
    "<button type='button' class='viewer-next' aria-label='下一张'>›</button></div>" +
    "<div class='viewer-caption'></div>";
  document.body.append(el);
  el.querySelector(".viewer-close").addEventListener("click", close);
  el.querySelector(".viewer-prev").addEventListener("click", () => step(-1));
  el.querySelector(".viewer-next").addEventListener("click", () => step(1));
  el.addEventListener("click", (e) => { if (e.target.classList.contains("viewer-stage")) close(); });
  let touchX = null;
  el.addEventListener("touchstart", (e) => { touchX = e.touches[0].clientX; }, { passive: true });
  el.addEventListener("touchend", (e) => {
    if (touchX == null || !photos.length) return;
    const dx = e.changedTouches[0].clientX - touchX;
    if (Math.abs(dx) > 50) step(dx < 0 ? 1 : -1);
    touchX = null;
  });
  document.addEventListener("keydown", (e) => {
    if (el.hidden) return;
    if (e.key === "Escape") close();
    else if (e.key === "ArrowRight") step(1);
    else if (e.key === "ArrowLeft") step(-1);
  });
  return el;
}

function open(kind) {
  build();
  el.hidden = false;
  el.dataset.kind = kind;
  document.body.classList.add("viewer-open");
  el.querySelector(".viewer-close").focus();
}

export function close() {
  if (!el) return;
  el.hidden = true;
  el.querySelector(".viewer-frame").src = "about:blank";
  document.body.classList.remove("viewer-open");
  probe.viewer = { open: false };
}

// photos: [{path, title, caption}] — the whole files' API paths; start at `at`
export function showPhotos(list, at) {
  photos = list;
  open("photo");
  el.querySelector(".viewer-frame").hidden = true;
  show(at);
}

function step(by) {
  if (photos.length > 1) show((index + by + photos.length) % photos.length);
}

async function show(at) {
  index = at;
  const photo = photos[at];
  const image = el.querySelector(".viewer-image");
  image.hidden = false;
  image.removeAttribute("src");
  image.alt = photo.title;
  el.querySelector(".viewer-title").textContent = photo.title + (photos.length > 1 ? "（" + (at + 1) + "/" + photos.length + "）" : "");
  el.querySelector(".viewer-caption").textContent = photo.caption || "";
  for (const b of el.querySelectorAll(".viewer-prev, .viewer-next")) b.hidden = photos.length < 2;
  const download = el.querySelector(".viewer-download");
  download.hidden = true;
  probe.viewer = { open: true, kind: "photo", index: at, title: photo.title, loaded: false };
  try {
    const url = await blobURL(photo.path);
    if (index !== at) return;  // moved on meanwhile
    image.src = url;
    download.href = url;
    download.download = photo.title;
    download.hidden = false;
    await image.decode().catch(() => {});
    probe.viewer.loaded = true;
  } catch (e) {
    el.querySelector(".viewer-caption").textContent = "照片读取失败：" + e.message;
  }
}

// a document: a PDF shown in the page, anything else saved (Word, Excel, OFD open elsewhere)
export async function showDocument({ path, filename, media_type: mediaType }) {
  const response = await api(path);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  if (mediaType !== "application/pdf") {
    const a = h("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    probe.viewer = { open: false, downloaded: filename };
    return;
  }
  photos = [];
  open("document");
  el.querySelector(".viewer-image").hidden = true;
  for (const b of el.querySelectorAll(".viewer-prev, .viewer-next")) b.hidden = true;
  el.querySelector(".viewer-title").textContent = filename;
  el.querySelector(".viewer-caption").textContent = "";
  const frame = el.querySelector(".viewer-frame");
  frame.hidden = false;
  frame.src = url;
  const download = el.querySelector(".viewer-download");
  download.href = url;
  download.download = filename;
  download.hidden = false;
  probe.viewer = { open: true, kind: "document", title: filename };
}
