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
