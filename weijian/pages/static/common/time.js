// Dates in Beijing time, countdowns to deadlines, sizes of files.

const PARTS = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "numeric", day: "numeric",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function parts(iso) {
  const out = {};
  for (const p of PARTS.formatToParts(new Date(iso))) out[p.type] = p.value;
  return out;
}

// “2026-03-03T17:00”, a datetime-local value: tomorrow 17:00 in Beijing — the default reply
// due of an urge (nowMs: the server's clock where the page keeps one)
export function tomorrowFive(nowMs = Date.now()) {
  const d = new Date(nowMs + (8 + 24) * 3600 * 1000);
  return d.toISOString().slice(0, 10) + "T17:00";
}

// “2026-03” → “2026年3月”
export const monthText = (m) => { const [y, n] = m.split("-"); return y + "年" + Number(n) + "月"; };

// the months to pick from, newest first: this month in Beijing by ``asOf`` (the server's
// clock; not over yet) and the ``count`` − 1 before it, and ``chosen`` when it is older — as
// [value, label] for a <select> (an <input type=month> is a bare text box in some browsers
// and speaks the browser's language in others)
export function monthChoices(asOf, chosen, count = 25) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" })
    .formatToParts(new Date(asOf));
  let y = Number(parts.find((p) => p.type === "year").value);
  let m = Number(parts.find((p) => p.type === "month").value);
  const list = [];
  for (let i = 0; i < count; i++) {
    list.push(y + "-" + String(m).padStart(2, "0"));
    if (--m === 0) { m = 12; y -= 1; }
  }
  if (chosen && !list.includes(chosen)) list.push(chosen);
  return list.map((v, i) => [v, monthText(v) + (i === 0 ? "（本月，未结束）" : "")]);
}

// “2026年3月2日 09:00”
export function beijing(iso) {
  if (!iso) return "—";
  const p = parts(iso);
  return p.year + "年" + p.month + "月" + p.day + "日 " + p.hour + ":" + p.minute;
}

// “3月2日 09:00” in the year of `nowMs` (the server's clock), else “2025年3月2日”
export function beijingShort(iso, nowMs) {
  if (!iso) return "—";
  const p = parts(iso);
  if (p.year !== parts(nowMs == null ? Date.now() : nowMs).year) return p.year + "年" + p.month + "月" + p.day + "日";
  return p.month + "月" + p.day + "日 " + p.hour + ":" + p.minute;
}

// The server's clock as of an answer (`as_of`), running on: countdowns count from the
// server's time, not from a phone's clock that may be wrong.
export class ServerClock {
  constructor(asOf) {
    this.offset = asOf ? Date.parse(asOf) - Date.now() : 0;
  }
  now() {
    return Date.now() + this.offset;
  }
}

const MINUTE = 60000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const SOON = 4 * HOUR; // a deadline this near is shown amber

// “1天3小时” “3小时05分” “12分钟” “不到1分钟”
export function span(ms) {
  ms = Math.abs(ms);
  if (ms < MINUTE) return "不到1分钟";
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  const minutes = Math.floor((ms % HOUR) / MINUTE);
  if (days) return days + "天" + (hours ? hours + "小时" : "");
  if (hours) return hours + "小时" + String(minutes).padStart(2, "0") + "分";
  return minutes + "分钟";
}

// {text, level}: level is "missed" (red), "soon" (amber, within 4 hours) or "ok"
export function countdown(dueIso, nowMs) {
  const left = Date.parse(dueIso) - nowMs;
  if (left < 0) return { text: "已超期 " + span(left), level: "missed" };
  return { text: "剩余 " + span(left), level: left <= SOON ? "soon" : "ok" };
}

export function fileSize(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(bytes < 10240 ? 1 : 0) + " KB";
  return (bytes / 1024 / 1024).toFixed(1) + " MB";
}
