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
