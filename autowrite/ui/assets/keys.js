// Tab in the live text box accepts the ghost continuation (when there is one), as in code editors.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || event.shiftKey) return;
  const box = event.target.closest && event.target.closest("#live-text");
  if (!box) return;
  const ghost = document.querySelector("#ghost .ghost-text");
  const accept = document.querySelector("#accept-ghost");
  if (!ghost || !ghost.textContent || !accept) return;
  event.preventDefault();
  accept.click();
}, true);
