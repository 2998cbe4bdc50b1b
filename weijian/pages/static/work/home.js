// The workbench's home page: the header, a case opened by its number, the links. The inbox
// fills <main id="inbox">.

import { probe } from "/static/common/api.js";
import { $ } from "/static/common/dom.js";
import { mountHeader } from "/static/common/header.js";
import { whenLoggedIn } from "/static/common/login.js";
import { showError } from "/static/common/notice.js";

$("open-case").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = $("case-number").value.trim().toUpperCase();
  if (number) location.href = "/work/cases/" + encodeURIComponent(number);
});

whenLoggedIn(async () => {
  try {
    await mountHeader($("bar"), { here: "work" });
    probe.ready = true;
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
});
