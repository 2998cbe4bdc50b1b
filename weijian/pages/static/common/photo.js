// Photos made smaller on the phone before they are sent — by the field app's 上报 and the
// public's 随手拍 alike: a JPEG whose long side is at most LONG_SIDE, or the file as it was
// when the browser cannot read it (the server judges it then) or when it is already smaller.

import { fill, h } from "./dom.js";

export const LONG_SIDE = 1600; // px
export const QUALITY = 0.8;

export async function compress(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    return file;
  }
  const scale = Math.min(1, LONG_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  return blob && blob.size < file.size ? blob : file;
}

// the chosen photos as thumbnails in `el`, each with × to take it out; `changed()` after one is
// taken out. photos: [{url, …}] (object URLs, revoked when taken out)
export function photoStrip(el, photos, changed) {
  fill(el, photos.map((p, i) => h("div", { class: "photo" },
    h("img", { src: p.url, alt: "照片 " + (i + 1) }),
    h("button", { type: "button", "aria-label": "删除照片 " + (i + 1), onclick: () => {
      URL.revokeObjectURL(p.url);
      photos.splice(i, 1);
      changed();
    } }, "×"))));
}
