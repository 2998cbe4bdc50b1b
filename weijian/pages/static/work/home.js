// The workbench's home page: the header, a case opened by its number, the inbox (待办箱,
// inbox.js) in <main id="inbox">, 12345 热线工单导入 for those who may import (hotline.js), the
// links.

import { once, probe } from "/static/common/api.js";
import { $ } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";
import { mayImport, mountHotline } from "/static/work/hotline.js";
import { mountInbox } from "/static/work/inbox.js";

$("open-case").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = $("case-number").value.trim().toUpperCase();
  if (number) location.href = "/work/cases/" + encodeURIComponent(number);
});

let inbox = null;
let hotline = null;

whenLoggedIn(async () => {
  try {
    const me = await mountHeader($("bar"), { here: "work" });
    if (inbox) await inbox.load(false); // logged in again: the list read again
    else inbox = await mountInbox($("inbox"), me);
    if (!hotline && mayImport(me, await once("/api/v1/cases/workflow"))) hotline = mountHotline($("hotline"));
    probe.ready = true;
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});
