// A click on a sweep point's strip (sweep-pt-N-PANEL, drawn by autowrite/ui/sweep_plot.py) asks
// the server for that point's samples: its number goes to a hidden textbox, then the
// hidden button runs, as the inspector's branches do.
document.addEventListener("click", (event) => {
  const strip = event.target.closest && event.target.closest("[id^='sweep-pt-']");
  if (!strip) return;
  const box = document.querySelector("#sweep-click textarea, #sweep-click input");
  const go = document.querySelector("#sweep-go");
  if (!box || !go) return;
  box.value = strip.id.split("-")[2];
  box.dispatchEvent(new Event("input", { bubbles: true }));
  setTimeout(() => go.click(), 0);
});
