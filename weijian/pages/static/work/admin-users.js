// placeholder
export async function mountUsers(el) { el.textContent = ""; }
