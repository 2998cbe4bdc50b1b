// placeholder
export async function mountRules(el) { el.textContent = ""; }
