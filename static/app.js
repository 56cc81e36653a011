// Progressive enhancement only: the page works without this file.
// Ctrl/Cmd+Enter anywhere in the playground presses Run.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  const run = document.querySelector("#playground button.run");
  if (run && !run.disabled) {
    event.preventDefault();
    run.click();
  }
});

// A failed htmx request (server error, lost connection) is said in the status line,
// instead of the click appearing to do nothing.
document.addEventListener("htmx:responseError", (event) => showStatus(
  `The server answered ${event.detail.xhr.status}. Try again; if it persists, check the server log.`));
document.addEventListener("htmx:sendError", () => showStatus(
  "Could not reach Knobs. Is the server running?"));

function showStatus(message) {
  const status = document.getElementById("status");
  if (!status) return;
  const line = document.createElement("span");
  line.className = "stopped";
  line.textContent = message;
  status.replaceChildren(line);
}

// "Copy link": put the text on the clipboard. The link stays on the page, selected, in
// case the clipboard is not available (plain http on another host, say).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button) copy(button.dataset.copy, button);
});
document.addEventListener("htmx:afterSettle", () => {
  const field = document.querySelector("[data-copy-now]");
  if (field) copy(field.value, field);
});

function copy(text, element) {
  if (element instanceof HTMLInputElement) element.select();
  if (!navigator.clipboard) return;
  navigator.clipboard.writeText(text).then(
    () => element.classList.add("copied"),
    () => {},
  );
}
