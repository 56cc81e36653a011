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

// A swap replaces the form, and with it the button just pressed: focus goes back to that
// button in the new form (Run, + Column, ...), so a keyboard or screen reader user stays where
// they were. One task later: focusing lays the whole new form out, and the live view's event
// stream should be asked for first.
// The button is taken from the submit event: htmx disables Run while the request is out,
// which takes the focus off it before the answer comes.
let pressed = null;
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  pressed = button instanceof HTMLButtonElement && button.name
    ? `button[name="${CSS.escape(button.name)}"][value="${CSS.escape(button.value)}"]`
    : null;
}, true);
document.addEventListener("htmx:afterSettle", () => {
  const selector = pressed;
  pressed = null;
  if (!selector) return;
  setTimeout(() => {
    const button = document.querySelector(`#playground ${selector}`);
    if (button && (document.activeElement === document.body || !document.activeElement)) {
      button.focus({preventScroll: true});
    }
  });
});

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

// Live text. The stream's `text` frames are htmx out-of-band swaps, which htmx applies when
// this file is missing. Here they are applied at most once per drawn frame, without htmx's
// work per swap, and text that falls well below a full box goes into a hidden span: the
// browser then lays out only text that can be seen. Together that halves the CPU a page of 40
// fast streams takes (bench/browser.py). Scrolling such a box shows the rest, and from then on
// its text streams in plainly.
const heldFrames = [];
document.addEventListener("htmx:sseBeforeMessage", (event) => {
  if (event.detail.type !== "text") {
    applyText(); // text first, then the column's results or the end
    return;
  }
  event.preventDefault();
  if (!heldFrames.length) requestAnimationFrame(applyText);
  heldFrames.push(event.detail.data);
});

function applyText() {
  if (!heldFrames.length) return;
  // A template's content is inert (nothing in it runs or loads); only its text is used.
  const template = document.createElement("template");
  template.innerHTML = heldFrames.join("");
  heldFrames.length = 0;
  const grown = [];
  for (const swap of template.content.children) {
    const [style, selector] = swap.getAttribute("hx-swap-oob").split(":");
    const target = document.getElementById(selector.slice(1));
    if (!target) continue;
    const rest = target.lastElementChild;
    if (style === "innerHTML") {
      target.textContent = swap.textContent;
    } else if (rest && rest.hidden) {
      rest.append(swap.textContent);
    } else {
      target.append(swap.textContent);
      grown.push(target);
    }
  }
  // Sizes are read after every write, so the browser lays the page out once for all of them.
  for (const box of grown) {
    if (!("reading" in box.dataset) && box.scrollHeight > 2 * box.clientHeight) {
      const rest = document.createElement("span");
      rest.hidden = true;
      box.append(rest);
    }
  }
}

// Scroll events do not bubble; a listener that captures sees every box's.
document.addEventListener("scroll", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLElement) || !box.matches(".sample.live .text")) return;
  box.dataset.reading = "";
  const rest = box.lastElementChild;
  if (rest && rest.hidden) rest.replaceWith(rest.textContent);
}, true);
