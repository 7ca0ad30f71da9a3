// The live tab's ghost continuation, drawn in grey inside the text box right after the caret,
// as in code editors and mail smart-compose. The server sends each ghost through the hidden
// #ghost element: its text, and in data-text the text it was made for. This script draws it
// in a mirror laid over the textarea and takes the keys: Tab accepts it all, Ctrl+Right
// (Alt+Right on macOS) one word, Esc dismisses it until the next ghost arrives. It also makes
// every edit of the text (Backspace, Delete, cut, paste, undo, a word taken) ask for the words
// as typing does, and keeps the focus in the box when a chip or the accept button is clicked.
(() => {
  const AREA = "#live-text textarea";
  // Ctrl+Right switches desktops on macOS, where Alt+Right is the move-by-word key.
  const MAC = /mac/i.test(navigator.userAgentData?.platform || navigator.platform || "");
  // The mirror's box must lay its text out exactly as the textarea does.
  const COPIED = [
    "fontFamily", "fontSize", "fontWeight", "fontStyle", "fontVariant", "fontStretch",
    "fontKerning", "fontFeatureSettings", "letterSpacing", "wordSpacing", "lineHeight",
    "textTransform", "textIndent", "textAlign", "tabSize", "direction", "whiteSpace",
    "overflowWrap", "wordBreak", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft",
    "borderTopWidth", "borderRightWidth", "borderBottomWidth", "borderLeftWidth",
  ];
  // The ghost in hand: the text it was made for, the ghost, how much of it the keys have put
  // into the text since, and whether Esc dismissed it.
  const ghost = { text: "", ghost: "", taken: 0, dismissed: false };
  let carried = null; // the #ghost element's text and data-text last read, to tell a new ghost
  let mirror = null; // the overlay: the typed text (transparent), then the ghost in a span
  let mirrored = null; // the textarea the mirror lies over
  let drawn = ""; // what the mirror shows, so that it is laid out again only on a change
  let keyed = false; // a keypress came before the next input event: Gradio hears of that edit
  // The box grows with its text and follows the window's width: the mirror follows it.
  const resizes = new ResizeObserver(() => {
    if (mirror?.isConnected && mirror.style.display !== "none") fit(mirrored);
  });

  // The part of the ghost to show after the caret, or "" for none. It belongs to the text it
  // was made for, plus what the keys took of it; any other text (typed on, or an older ghost
  // arriving late) hides it, as do a caret before the end and a selection.
  function shown(area) {
    const end = area.value.length;
    const rest = ghost.ghost.slice(ghost.taken);
    if (!rest || ghost.dismissed || !area.value.trim()) return ""; // a blank box shows its placeholder
    if (area.value !== ghost.text + ghost.ghost.slice(0, ghost.taken)) return "";
    return area.selectionStart === end && area.selectionEnd === end ? rest : "";
  }

  function render() {
    const area = document.querySelector(AREA);
    if (!area) return;
    const rest = shown(area);
    // Typing with no ghost shown costs nothing here: the key stays "", the mirror hidden.
    const key = rest && `${area.value}\u0000${rest}`;
    if (key === drawn && mirrored === area && mirror.isConnected) return;
    drawn = key;
    const box = mirrorFor(area);
    box.style.display = rest ? "" : "none";
    if (!rest) return;
    box.firstChild.data = area.value;
    box.lastChild.textContent = rest;
    fit(area);
  }

  function mirrorFor(area) {
    if (mirrored === area && mirror.isConnected) return mirror;
    mirror?.remove();
    mirror = document.createElement("div");
    mirror.className = "ghost-mirror";
    mirror.setAttribute("aria-hidden", "true");
    const rest = document.createElement("span");
    rest.className = "ghost-text";
    mirror.append(document.createTextNode(""), rest);
    area.after(mirror);
    mirrored = area;
    resizes.disconnect();
    resizes.observe(area);
    return mirror;
  }

  // Lays the mirror over the textarea: its font, spacing and wrapping, its box, its scroll.
  function fit(area) {
    const style = getComputedStyle(area);
    for (const name of COPIED) mirror.style[name] = style[name];
    // A scroll bar narrows the textarea's lines; the mirror has none, so it pads by as much.
    const borders = parseFloat(style.borderLeftWidth) + parseFloat(style.borderRightWidth);
    const bar = area.offsetWidth - area.clientWidth - borders;
    mirror.style.paddingRight = `${parseFloat(style.paddingRight) + bar}px`;
    mirror.style.top = `${area.offsetTop}px`;
    mirror.style.left = `${area.offsetLeft}px`;
    mirror.style.width = `${area.offsetWidth}px`;
    mirror.style.height = `${area.offsetHeight}px`;
    // Right above the textarea, which Gradio stacks (with its white background) over its box.
    mirror.style.zIndex = String((parseInt(style.zIndex, 10) || 0) + 1);
    mirror.scrollTop = area.scrollTop;
    mirror.scrollLeft = area.scrollLeft;
  }

  // A new ghost from the server replaces the one in hand, if it was made for the text in the box.
  // An empty one (each edit's words clear it) leaves it, and so does one for an older text,
  // arriving late: the ghost in hand may still continue the text, with a word taken from it.
  function readCarrier() {
    const box = document.querySelector("#ghost .ghost-box");
    if (!box) return;
    const text = box.dataset.text ?? "";
    const made = box.querySelector(".ghost-text")?.textContent ?? "";
    const key = `${text}\u0000${made}`;
    if (key === carried) return;
    carried = key;
    if (made && text === document.querySelector(AREA)?.value) {
      Object.assign(ghost, { text, ghost: made, taken: 0, dismissed: false });
    }
  }

  // Whether the box shows a ghost now; the pause timer (ui/live.py) asks for none while it does.
  window.autowriteGhostShown = () => {
    const area = document.querySelector(AREA);
    return Boolean(area && shown(area));
  };

  // The ghost's first word with the space before it: " is great for" gives " is".
  function firstWord(rest) {
    const word = rest.match(/^\s*\S+/);
    return word ? word[0] : rest;
  }

  // Both keys accept on the client, through the same path: a word can only be taken here (the
  // server never learns which part of its ghost is in the text), and Tab going the same way
  // makes the two keys alike: the text changes at once, no keystroke typed during a round trip
  // is overwritten, and the accepted part is an edit like any other, so the words follow. The
  // rest of the ghost stays: no new one is asked for while it shows (window.autowriteGhostShown).
  function take(area, part) {
    ghost.taken += part.length; // first: the input event below finds the rest still valid
    keyed = false; // no keypress announces this edit: the input event tells Gradio
    // insertText keeps the undo history (Ctrl+Z takes the part back) and fires the input
    // event; where the browser refuses it, set the value and fire the event by hand.
    if (!document.execCommand("insertText", false, part)) {
      area.value += part;
      area.setSelectionRange(area.value.length, area.value.length);
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }
    render();
  }

  // Gradio's Textbox takes its value from the input event but fires its own input event (the
  // one the live tab listens to) on keypress only: Backspace, Delete, cut, paste, undo and a
  // taken word would leave the words of a text no longer there. So an edit that no keypress
  // came before is told to Gradio with a keypress of no key, which stands for typing, and an
  // edit that one came before is not: each edit asks for its words once.
  function noteKey(event) {
    if (!event.isTrusted) return; // the keypress of no key, below
    // A keydown clears it, so a keypress that edits nothing is forgotten by the next key.
    keyed = event.type === "keypress";
  }

  function edited(event) {
    const area = event.target;
    if (!area.matches?.(AREA) || event.isComposing) return; // an input method's text, at its end
    const heard = keyed && event.type === "input";
    keyed = false;
    if (!heard) area.dispatchEvent(new KeyboardEvent("keypress", { bubbles: true }));
  }

  // A click on a chip or the accept button must leave the caret in the box: the next keys typed
  // go on with the text. Pressing the mouse on a button would take the focus; a button used from
  // the keyboard gives it back. The server's new text puts the caret at its end.
  const BUTTONS = "#word-row button, #accept-ghost";
  document.addEventListener("mousedown", (event) => {
    if (event.target.closest?.(BUTTONS)) event.preventDefault();
  }, true);
  document.addEventListener("click", (event) => {
    const area = document.querySelector(AREA);
    if (!area || !event.target.closest?.(BUTTONS) || document.activeElement === area) return;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }, true);

  function action(event) {
    const others = event.shiftKey || event.metaKey;
    if (event.key === "Tab" && !others && !event.ctrlKey && !event.altKey) return "all";
    if (event.key === "Escape" && !others && !event.ctrlKey && !event.altKey) return "dismiss";
    const byWord = MAC ? event.altKey && !event.ctrlKey : event.ctrlKey && !event.altKey;
    return event.key === "ArrowRight" && byWord && !others ? "word" : null;
  }

  // Without a ghost shown, the keys do what they always do: Tab moves on, Ctrl+Right moves the caret.
  document.addEventListener("keydown", (event) => {
    const area = event.target;
    if (event.isComposing || !area.matches?.(AREA)) return;
    const rest = shown(area);
    const act = rest && action(event);
    if (!act) return;
    event.preventDefault();
    if (act === "dismiss") {
      ghost.dismissed = true;
      render();
    } else take(area, act === "all" ? rest : firstWord(rest));
  }, true);

  const onArea = (event) => event.target.matches?.(AREA);
  for (const type of ["input", "keyup", "mouseup", "focus", "select"]) {
    document.addEventListener(type, (event) => onArea(event) && render(), true);
  }
  for (const type of ["keydown", "keypress"]) {
    document.addEventListener(type, (event) => onArea(event) && noteKey(event), true);
  }
  // Bubbling, after the textarea's own listeners: Gradio has the new value when it is told.
  document.addEventListener("input", edited);
  document.addEventListener("compositionend", edited);
  document.addEventListener("selectionchange", render);
  // Scroll events do not bubble, but a capturing listener on the document sees them.
  document.addEventListener("scroll", (event) => {
    if (onArea(event) && event.target === mirrored && mirror.style.display !== "none") {
      mirror.scrollTop = event.target.scrollTop;
      mirror.scrollLeft = event.target.scrollLeft;
    }
  }, true);
  // Gradio may replace the #ghost element's content or only its text and data-text.
  new MutationObserver(() => {
    readCarrier();
    render();
  }).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true, attributeFilter: ["data-text"],
  });
})();
