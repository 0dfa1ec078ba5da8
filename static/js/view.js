// The answer side of the page: the digit or number, the verdict, the status line, the bars, the chips of
// a number's digits, the image the network saw, and the one live region that announces settled answers.

const $ = (id) => document.getElementById(id);
const result = $("result");
const digitEl = $("digit");
const verdict = $("verdict");
const statusEl = $("status");
const preview = $("preview");
const seen = $("seen");
const live = $("announce");
const chips = $("number-digits");
// Each bar's parts, found once: the bar itself and the text of its percentage (before the "%" sign).
const bars = [...document.querySelectorAll("#bars li")].map((li) => ({
  li, fill: li.querySelector(".bar"), number: li.querySelector(".pct").firstChild,
}));
let busyTimer = null;
let failing = false; // a failure was announced and no answer has come since: its retries stay quiet

// Text is written only when it changes: an answer comes many times a second while the pen moves, and
// every write, even of the same words, makes the browser lay the page out again.
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

export const article = (d) => (d === 8 ? "an" : "a");
// A network is never 100% sure, whatever rounding says: the extremes are ">99%" and "<1%".
export const percent = (p) => (p >= 0.995 ? ">99%" : p < 0.005 ? "<1%" : `${(p * 100).toFixed(1)}%`);
const spoken = (p) => (p >= 0.995 ? "over 99" : String(Math.round(p * 100)));

// Said once per settled answer, once per Clear, once per failure after pen-up; never per live frame.
export function announce(text) {
  live.textContent = text;
}

// The status line: "progress" (sending a picture...) in the quiet colour, "error" in the error colour.
export function showStatus(text, tone = "error") {
  setText(statusEl, text);
  statusEl.dataset.tone = tone;
}

export function showBusy(on) {
  clearTimeout(busyTimer);
  if (!on) {
    result.removeAttribute("aria-busy");
    result.classList.remove("waiting");
    return;
  }
  result.setAttribute("aria-busy", "true");
  // Shown only when an answer is slow to come: a local answer takes a few ms and must not flicker.
  busyTimer = setTimeout(() => result.classList.add("waiting"), 400);
}

function counted() {
  document.body.dataset.answers = String(Number(document.body.dataset.answers || 0) + 1); // for tests
}

// Whole percents under each bar (the verdict gives the winner's to a tenth); the "%" sign is hidden
// where the chart is narrow (static/style.css), so no label is wider than its column.
// Live frames come many times a second: only what changed is touched (a slow phone felt every rebuild).
export function showBars(probabilities, top, unsure) {
  bars.forEach((bar, d) => {
    const p = probabilities ? probabilities[d] : 0;
    const scale = Math.round(p * 1000) / 1000; // a thousandth of the bar's height: under a pixel
    if (bar.scale !== scale) bar.fill.style.transform = `scaleY(${(bar.scale = scale)})`;
    const shown = p >= 0.995 ? ">99" : String(Math.round(p * 100));
    if (bar.number.data !== shown) bar.number.data = shown;
    bar.li.classList.toggle("winner", d === top && !unsure);
  });
}

function fresh() {
  failing = false;
  for (const name of ["stale", "empty", "number", "unsure"]) {
    if (digitEl.classList.contains(name)) digitEl.classList.remove(name); // no write when there is nothing to undo
  }
  if (result.classList.contains("stale")) result.classList.remove("stale");
  showStatus("");
}

export function showDigit(answer, settled) {
  fresh();
  chips.hidden = true;
  const top = answer.digit;
  const pct = spoken(answer.confidence);
  if (answer.too_little_ink) { // a tap or a tick: nothing to read, so no guess and no winner
    setText(digitEl, "?");
    digitEl.classList.add("unsure");
    setText(verdict, "Too little ink to read. Draw the whole digit.");
    showBars(null, -1, true);
    if (settled) announce("Too little ink to read. Draw the whole digit.");
  } else {
    setText(digitEl, answer.unsure ? "?" : String(top));
    digitEl.classList.toggle("unsure", answer.unsure);
    const hint = answer.number_hint ? ` It looks like the number ${answer.number_hint}: Number reads it.` : "";
    setText(verdict, answer.unsure
      ? `Not sure this is a digit (best guess ${top}, ${percent(answer.confidence)}).${hint}`
      : `It looks like ${article(top)} ${top} (${percent(answer.confidence)} sure).`);
    showBars(answer.probabilities, top, answer.unsure);
    if (settled) {
      announce(answer.unsure ? `Not sure this is a digit. Best guess ${top}, ${pct} percent.${hint}`
        : `Looks like ${top}, ${pct} percent.`);
    }
  }
  // The picture the network saw, once the pen lifts (or the first frame): decoding it per frame is wasted.
  if (settled || seen.hidden) preview.src = answer.preview;
  seen.hidden = false;
  document.body.dataset.prediction = String(top); // for tests and curious people
  counted();
}

// A number said digit by digit, its marks by name: "-3.5" is "minus 3 point 5".
const MARK_NAMES = { ".": "point", ",": "comma", "-": "dash" };
const spell = (text) => text.split("").map((c, i) => (c === "-" && i === 0 ? "minus" : MARK_NAMES[c] || c)).join(" ");

// A whole number: the number in large type, a chip per digit, the bars of the selected digit.
export function showNumber(answer, settled, selected, onSelect) {
  fresh();
  const text = answer.text || answer.number; // a drawn number keeps its decimal points
  digitEl.textContent = text;
  digitEl.style.setProperty("--chars", String(text.length)); // the type shrinks to fit (static/style.css)
  digitEl.classList.add("number");
  seen.hidden = true;
  chips.replaceChildren(...answer.digits.map((digit, i) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.textContent = digit.unsure ? `${digit.digit}?` : String(digit.digit);
    chip.className = digit.unsure ? "unsure" : "";
    chip.setAttribute("aria-label", `Digit ${i + 1}: ${digit.digit}, ${spoken(digit.confidence)} percent`);
    // Chosen by a click, a tap or Enter only: pointing at a chip on the way to the buttons must not change
    // which digit a correction is about.
    chip.addEventListener("click", () => onSelect(i));
    return chip;
  }));
  chips.hidden = false;
  selectChip(answer, selected);
  verdict.textContent = answer.lines > 1
    ? `That is ${answer.lines} lines: write one number on one line (read as ${text}).`
    : answer.unsure ? `Read ${text}; the dashed digits are unsure.` : `Read ${text}.`;
  document.body.dataset.prediction = answer.number;
  counted();
  if (settled) {
    const unsure = answer.digits.filter((d) => d.unsure).length;
    announce(answer.lines > 1 ? verdict.textContent : `Reads ${spell(text)}`
      + (unsure ? `, ${unsure} ${unsure === 1 ? "digit" : "digits"} unsure.` : "."));
  }
}

export function selectChip(answer, i) {
  [...chips.children].forEach((chip, k) => chip.setAttribute("aria-pressed", String(k === i)));
  const digit = answer.digits[i];
  showBars(digit.probabilities, digit.digit, digit.unsure);
}

// A failed request: the old answer is greyed out (it is not about this drawing) and the message shown.
export function showFailure(message, settled) {
  result.classList.add("stale");
  digitEl.classList.add("stale");
  showStatus(message, "error");
  if (settled && !failing) announce(message); // once per outage, not once per retry
  if (settled) failing = true;
}

export function showEmpty(numberMode) {
  fresh();
  digitEl.textContent = "–";
  digitEl.classList.add("empty");
  verdict.textContent = numberMode ? "Write a number to see what the network reads."
    : "Draw a digit to see what the network thinks.";
  showBars(null, -1, true);
  seen.hidden = true;
  chips.hidden = true;
  chips.replaceChildren();
  delete document.body.dataset.prediction;
}
