// A slot for the files of one kind a step needs (photos or documents): choose them (on a
// phone, photos straight from the camera), see them before they go, upload them with a
// progress bar. Files uploaded once stay uploaded: submitting again sends only the rest.

import { upload } from "./api.js";
import { fill, h } from "./dom.js";
import { fileSize } from "./time.js";

// One file chosen for a form, in Chinese whatever the browser's language: the native input
// hidden, a button for it, the name and size of what was chosen. {el, input}
let picks = 0;
export function filePicker({ name, accept, label = "选择文件" }) {
  const id = "pick-" + name + "-" + ++picks;
  const input = h("input", { type: "file", id, name, accept, class: "visually-hidden" });
  const chosen = h("span", { class: "file-chosen muted" }, "未选择文件");
  input.addEventListener("change", () => {
    const file = input.files[0];
    fill(chosen, file ? [h("b", {}, file.name), "（" + fileSize(file.size) + "）"] : "未选择文件");
  });
  return { el: h("div", { class: "file-pick" }, h("label", { class: "pick button", for: id }, label), chosen, input), input };
}

const KINDS = {
  photo: { noun: "照片", unit: "张", pick: "拍照或选择照片", accept: "image/jpeg,image/png,image/webp,image/*" },
  document: {
    noun: "文书", unit: "份", pick: "选择文件",
    accept: ".pdf,.doc,.docx,.xls,.xlsx,.ofd,image/jpeg,image/png,image/webp,image/tiff",
  },
};

// a phone or tablet: its file chooser can open the camera at once
export const onPhone = () => window.matchMedia("(pointer: coarse)").matches;

let slots = 0;

export class FileSlot {
  // kind: photo | document; min: how many the step needs; label, hint: what the user reads
  constructor({ kind, min = 0, label, hint }) {
    this.kind = kind;
    this.min = min;
    this.items = [];
    const k = KINDS[kind];
    const id = "slot-" + ++slots;
    this.input = h("input", {
      type: "file", id, accept: k.accept, multiple: true, class: "visually-hidden",
      capture: kind === "photo" && onPhone() ? "environment" : null, dataset: { kind },
    });
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = "";
    });
    this.list = h("ul", { class: "slot-files" });
    this.el = h("fieldset", { class: "slot", dataset: { kind } },
      h("legend", {}, label || k.noun, min ? h("span", { class: "required" }, "（至少 " + min + " " + k.unit + "）") : null),
      hint ? h("p", { class: "hint" }, hint) : null,
      this.list,
      h("label", { class: "pick button", for: id }, k.pick),
      this.input);
  }

  add(files) {
    for (const file of files) {
      const item = { file, name: file.name, size: file.size, sha: null, state: "ready", progress: 0, error: null };
      item.preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
      this.items.push(item);
      this.list.append(this._row(item));
    }
  }

  _row(item) {
    const ext = (item.name.split(".").pop() || "").toUpperCase().slice(0, 4);
    const status = h("span", { class: "file-status" });
    const bar = h("progress", { max: "1", value: "0", hidden: true });
    const remove = h("button", { type: "button", class: "file-remove", "aria-label": "移除 " + item.name }, "移除");
    remove.addEventListener("click", () => {
      if (item.state === "uploading") return;
      this.items = this.items.filter((i) => i !== item);
      if (item.preview) URL.revokeObjectURL(item.preview);
      item.row.remove();
    });
    item.row = h("li", { class: "slot-file" },
      item.preview ? h("img", { src: item.preview, alt: "", class: "file-preview" }) : h("span", { class: "file-icon" }, ext || "文件"),
      h("span", { class: "file-text" }, h("span", { class: "file-name" }, item.name),
        h("span", { class: "file-size" }, fileSize(item.size)), bar, status),
      remove);
    item.show = () => {
      bar.hidden = item.state !== "uploading";
      bar.value = item.progress;
      status.className = "file-status " + item.state;
      status.textContent = {
        ready: "待上传",
        uploading: "上传中 " + Math.round(item.progress * 100) + "%",
        done: "已上传",
        failed: "上传失败：" + item.error,
      }[item.state];
      remove.hidden = item.state === "uploading";
      item.row.dataset.state = item.state;
    };
    item.show();
    return item.row;
  }

  count() {
    return this.items.length;
  }

  // every file uploaded to the case (those done before are not sent again): their sha256.
  // A failure marks the file and rejects with the API's error.
  async uploadAll(caseNumber) {
    const hashes = [];
    for (const item of this.items) {
      if (item.state !== "done") {
        item.state = "uploading";
        item.progress = 0;
        item.show();
        const form = new FormData();
        form.append("file", item.file, item.name);
        form.append("kind", this.kind);
        try {
          const answer = await upload("/api/v1/cases/" + encodeURIComponent(caseNumber) + "/evidence", form, (p) => {
            item.progress = p;
            item.show();
          });
          item.sha = answer.sha256;
          item.state = "done";
          item.flag = answer.flagged ? answer.flag_reason : null;
        } catch (e) {
          item.state = "failed";
          item.error = e.message;
          item.show();
          throw e;
        }
        item.show();
      }
      hashes.push(item.sha);
    }
    return hashes;
  }
}
