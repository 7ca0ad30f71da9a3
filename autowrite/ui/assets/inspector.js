// The token inspector (autowrite/ui/inspector.py): arrow keys between tokens and through a
// token's alternatives, and a click on an alternative asks the server for the branch.

// One tab stop per text (a roving tabindex): Tab leaves the text, arrows move inside it.
function awFocusToken(token) {
  if (!token) return;
  token.closest(".aw-tokens").querySelectorAll(".aw-tok").forEach((t) => (t.tabIndex = -1));
  token.tabIndex = 0;
  token.focus();
}

document.addEventListener("keydown", (event) => {
  const alt = event.target.closest && event.target.closest(".aw-alt");
  const token = event.target.closest && event.target.closest(".aw-tok");
  if (!token) return;
  if (alt) {
    const buttons = [...token.querySelectorAll(".aw-alt")];
    const at = buttons.indexOf(alt);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1 };
    if (event.key in moves) {
      event.preventDefault();
      if (moves[event.key] < 0) token.focus(); else buttons[moves[event.key]]?.focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      token.focus();
    }
    return;
  }
  const siblings = { ArrowRight: token.nextElementSibling, ArrowLeft: token.previousElementSibling };
  if (event.key in siblings) {
    event.preventDefault();
    awFocusToken(siblings[event.key]);
  } else if (event.key === "ArrowDown") {
    const first = token.querySelector(".aw-alt");
    if (first) { event.preventDefault(); first.focus(); }
  }
}, true);

// Gradio listens for input on its textbox: the click's place goes there, then the hidden
// button runs the branch with the page's settings.
document.addEventListener("click", (event) => {
  const alt = event.target.closest && event.target.closest(".aw-alt");
  if (!alt) return;
  const box = document.querySelector("#gen-branch-click textarea, #gen-branch-click input");
  const go = document.querySelector("#gen-branch-go");
  if (!box || !go) return;
  box.value = `${alt.dataset.sample}:${alt.dataset.step}:${alt.dataset.token}`;
  box.dispatchEvent(new Event("input", { bubbles: true }));
  setTimeout(() => go.click(), 0);
});
