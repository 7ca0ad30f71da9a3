// Tab in the live text box accepts the ghost continuation (when there is one), as in code editors.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || event.shiftKey) return;
  const box = event.target.closest && event.target.closest("#live-text");
  if (!box) return;
  const ghost = document.querySelector("#ghost .ghost-text");
  const accept = document.querySelector("#accept-ghost");
  if (!ghost || !ghost.textContent || !accept || markStaleGhost()) return;
  event.preventDefault();
  accept.click();
}, true);

// A ghost belongs to the text it was made for (the box's data-text). It can arrive after
// newer keystrokes, or the text can change under it: then it is hidden until a new one comes.
function markStaleGhost() {
  const box = document.querySelector("#ghost .ghost-box");
  const area = document.querySelector("#live-text textarea");
  if (!box || !area) return false;
  const stale = box.dataset.text !== area.value;
  box.classList.toggle("stale", stale);
  return stale;
}
document.addEventListener("input", (event) => {
  if (event.target.closest && event.target.closest("#live-text")) markStaleGhost();
}, true);
new MutationObserver(() => markStaleGhost()).observe(document.documentElement, { childList: true, subtree: true });
