// Blind review keys: 1–8 pick that answer and vote, t a tie, n or → the next case, u undo.
// The page works without this: every key has a button or a link.
document.addEventListener("keydown", (event) => {
  const page = document.querySelector("[data-keys]");
  const typing = event.target.closest && event.target.closest("input:not([type=radio]), textarea, select");
  if (!page || typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const ballot = page.querySelector("form.ballot");
  const key = event.key.toLowerCase();
  const pick = ballot && ballot.querySelector(`input[data-key="${key}"]`);
  if (pick && !ballot.querySelector("button[type=submit]").disabled) {
    pick.checked = true;
    event.preventDefault();
    ballot.requestSubmit();
  } else if (key === "n" || key === "arrowright") {
    const next = page.querySelector("[data-next]");
    if (next) { event.preventDefault(); next.click(); }
  } else if (key === "u") {
    const undo = page.querySelector("form[data-undo]");
    if (undo) { event.preventDefault(); undo.requestSubmit(); }
  }
});
