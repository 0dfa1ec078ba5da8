// Digit Canvas drawing page: records strokes in CSS pixels and asks the server what digit they are.
"use strict";

(() => {
  const MIN_INTERVAL_MS = 50; // never ask more often than this while the pen moves
  const TIMEOUT_MS = 6000; // a request that takes longer has failed: say so and retry
  const BRUSH = 16; // display only: the server redraws the strokes at its own, size-relative width
  const UPLOAD_SIDE = 1024; // photos are shrunk to this long side before they are sent
  const RETRY_MS = [1000, 2000, 4000, 8000];

  const $ = (id) => document.getElementById(id);
  const canvas = $("pad");
  const ctx = canvas.getContext("2d");
  const hint = $("hint");
  const result = $("result");
  const digitEl = $("digit");
  const verdict = $("verdict");
  const statusEl = $("status");
  const preview = $("preview");
  const seen = $("seen");
  const announce = $("announce");
  const fileInput = $("file");
  const bars = [...document.querySelectorAll("#bars li")];
  const correctBox = $("correct");
  const modeButton = $("mode");
  const digitChips = $("number-digits");
  const thanks = $("correct-thanks");

  let strokes = []; // [[[x, y], ...], ...] in canvas CSS pixels, rounded to 0.1 px
  let activePointer = null; // one pointer draws at a time; a second finger is ignored
  let cssSize = { width: 0, height: 0 };
  let drawing = 0; // bumped by every change to the drawing; Clear also bumps `cleared`
  let cleared = 0;
  let answered = null; // what the shown answer is about: {strokes, width, height} or {file}, for a correction
  let numberMode = false; // several digits left to right: /api/read instead of /api/predict
  let reading = null; // the last number read: {answer, asked, selected}
  let picture = null; // the picture last sent ({bitmap, width, height}), shown on the canvas until the pen draws
  let pictureFit = null; // where it is drawn: {scale, dx, dy} from its pixels to canvas CSS pixels

  // --- canvas -------------------------------------------------------------------------------

  // devicePixelRatio-aware canvas: sharp on high-DPI screens; redraw kept strokes at the new size.
  function resizeCanvas() {
    const rect = { width: canvas.clientWidth, height: canvas.clientHeight }; // inside the border
    if (!rect.width || !rect.height) return;
    if (cssSize.width) {
      const sx = rect.width / cssSize.width, sy = rect.height / cssSize.height;
      strokes = strokes.map((s) => s.map(([x, y]) => [round(x * sx), round(y * sy)]));
    }
    cssSize = { width: rect.width, height: rect.height };
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    redraw();
  }

  function redraw() {
    ctx.clearRect(0, 0, cssSize.width, cssSize.height);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = BRUSH;
    ctx.strokeStyle = ctx.fillStyle = getComputedStyle(canvas).color;
    drawPicture();
    strokes.forEach(drawStroke);
    drawBoxes();
    hint.hidden = strokes.length > 0 || picture !== null;
    document.body.dataset.strokes = String(strokes.length); // for tests and curious people
  }

  // An uploaded picture, fitted into the canvas (aspect kept, centred), until the pen draws or Clear.
  function drawPicture() {
    pictureFit = null;
    if (!picture || strokes.length) return;
    const scale = Math.min(cssSize.width / picture.width, cssSize.height / picture.height);
    pictureFit = { scale, dx: (cssSize.width - picture.width * scale) / 2, dy: (cssSize.height - picture.height * scale) / 2 };
    ctx.drawImage(picture.bitmap, pictureFit.dx, pictureFit.dy, picture.width * scale, picture.height * scale);
  }

  // Number mode: a box around each digit read (canvas units for a drawing; for a picture, its pixels,
  // drawn where the picture is shown).
  function drawBoxes() {
    const onPicture = Boolean(reading && reading.asked.file && pictureFit);
    const boxes = reading && (!reading.asked.file || onPicture) ? reading.answer.digits : [];
    document.body.dataset.boxes = String(boxes.length);
    const fit = onPicture ? pictureFit : { scale: 1, dx: 0, dy: 0 };
    const pad = onPicture ? 3 : BRUSH / 2 + 2; // round a drawing's boxes: half the brush the page draws with
    const colours = getComputedStyle(document.documentElement);
    boxes.forEach((digit, i) => {
      const [x, y, w, h] = digit.box.map((v) => v * fit.scale);
      ctx.save();
      ctx.lineWidth = i === reading.selected ? 3 : 1.5;
      ctx.setLineDash(digit.unsure ? [6, 4] : []);
      ctx.strokeStyle = colours.getPropertyValue(digit.unsure ? "--unsure" : "--accent");
      ctx.strokeRect(fit.dx + x - pad, fit.dy + y - pad, w + 2 * pad, h + 2 * pad);
      ctx.restore();
    });
  }

  function drawStroke(points) {
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], BRUSH / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }

  const round = (v) => Math.round(v * 10) / 10; // 0.1 px is finer than any pointer; shorter bodies

  function pointFrom(event) {
    const rect = canvas.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - rect.left - canvas.clientLeft, 0), cssSize.width);
    const y = Math.min(Math.max(event.clientY - rect.top - canvas.clientTop, 0), cssSize.height);
    return [round(x), round(y)];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (activePointer !== null || event.button > 0) return;
    event.preventDefault();
    activePointer = event.pointerId;
    strokes.push([pointFrom(event)]);
    picture = null; // drawing replaces a shown picture
    drawing++;
    document.dispatchEvent(new Event("drawing-changed")); // an explanation shown is about the old drawing
    redraw(); // no request yet: moving or lifting the pen asks
  });

  // Window-level listeners: a stroke that leaves the canvas keeps drawing until the pointer is released.
  window.addEventListener("pointermove", (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const stroke = strokes[strokes.length - 1];
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    ctx.beginPath();
    ctx.moveTo(...stroke[stroke.length - 1]);
    for (const e of events.length ? events : [event]) {
      const point = pointFrom(e);
      stroke.push(point);
      ctx.lineTo(...point);
    }
    ctx.stroke();
    drawing++;
    ask(false);
  }, { passive: false });

  function endStroke() {
    if (activePointer === null) return false;
    activePointer = null;
    return true;
  }
  function onPointerUp(event) {
    if (event.pointerId !== activePointer) return;
    endStroke();
    ask(true);
  }
  window.addEventListener("pointerup", onPointerUp);
  window.addEventListener("pointercancel", onPointerUp);

  // --- asking the server ---------------------------------------------------------------------
  // At most one request in flight. While it runs, only the fact that the drawing changed is kept;
  // when it returns, its answer is shown (unless the canvas was cleared meanwhile) and the newest
  // drawing is sent. On a slow network answers come once per round trip instead of never.

  const net = { busy: false, dirty: false, settle: false, lastSent: 0, rtt: 0, retries: 0, retryTimer: null,
                busyTimer: null };

  function ask(settle) {
    if (!strokes.length) return showEmpty();
    net.dirty = true;
    net.settle = net.settle || settle; // the answer after pen-up is the one announced
    pump();
  }

  function pump() {
    if (net.busy || !net.dirty || net.retryTimer) return;
    const wait = Math.max(MIN_INTERVAL_MS, net.rtt / 2) - (performance.now() - net.lastSent);
    if (wait > 0 && !net.settle) {
      if (!net.waitTimer) net.waitTimer = setTimeout(() => { net.waitTimer = null; pump(); }, wait);
      return;
    }
    net.dirty = false;
    const settle = net.settle;
    net.settle = false;
    const asked = { strokes: strokes.map((s) => s.slice()), width: round(cssSize.width), height: round(cssSize.height) };
    request(numberMode ? "/api/read" : "/api/predict", asked, settle, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(asked),
    });
  }

  async function request(url, asked, settle, options) {
    net.busy = true;
    net.lastSent = performance.now();
    const clearedAtStart = cleared;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    showBusy(true);
    try {
      const response = await fetch(url, { ...options, signal: controller.signal });
      const payload = await readJson(response);
      net.rtt = net.rtt ? 0.7 * net.rtt + 0.3 * (performance.now() - net.lastSent) : performance.now() - net.lastSent;
      if (clearedAtStart !== cleared) return; // the canvas was cleared: this answer is about nothing shown
      if (!response.ok) {
        const retry = response.status >= 500 || response.status === 429 || response.status === 408;
        return fail(payload.error ? explain(response.status, payload.error) : `The server had a problem (${response.status}).`,
                    retry, asked, settle);
      }
      net.retries = 0;
      showResult(payload, asked, settle); // announced only after pen-up, undo or an upload
    } catch (error) {
      if (clearedAtStart !== cleared) return;
      const message = error.name === "AbortError" ? "The server is taking too long. Retrying…"
        : error instanceof BadAnswer ? "The server sent an answer this page cannot read. Retrying…"
        : navigator.onLine === false ? "You are offline. Retrying when the connection is back…"
        : "Can't reach the server. Retrying…";
      fail(message, true, asked, settle);
    } finally {
      clearTimeout(timer);
      net.busy = false;
      showBusy(false);
      pump();
    }
  }

  class BadAnswer extends Error {}

  async function readJson(response) {
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) throw new BadAnswer(`not JSON: ${type}`);
    try {
      return await response.json();
    } catch {
      throw new BadAnswer("broken JSON");
    }
  }

  function explain(status, error) {
    if (status === 413) return "That is too big to read (the picture or the drawing has too much in it).";
    if (status === 422) return "No digit found: " + error.replace(/^no (ink|digit found)[^:]*:\s*/, "");
    if (status === 429) return "Too many requests just now. Retrying in a moment…";
    if (status >= 500) return "The server had a problem. Retrying…";
    return error.charAt(0).toUpperCase() + error.slice(1) + ".";
  }

  // A failed request: the old answer is greyed out (it is not about this drawing), the message is
  // shown next to the digit, and network or server trouble is retried with growing pauses.
  function fail(message, retry, asked, settle) {
    result.classList.add("stale");
    digitEl.classList.add("stale");
    statusEl.textContent = message;
    if (settle) announce.textContent = message;
    if (!retry) return;
    const delay = RETRY_MS[Math.min(net.retries++, RETRY_MS.length - 1)];
    clearTimeout(net.retryTimer);
    net.retryTimer = setTimeout(() => {
      net.retryTimer = null;
      if (asked.file) return uploadPicture(asked.file);
      if (strokes.length) { net.dirty = true; net.settle = settle; pump(); }
    }, delay);
  }

  window.addEventListener("online", () => { // the connection is back: ask again at once
    if (!net.retryTimer) return;
    clearTimeout(net.retryTimer);
    net.retryTimer = null;
    net.retries = 0;
    if (answered && answered.file) uploadPicture(answered.file);
    else if (strokes.length) ask(true);
  });

  function showBusy(on) {
    clearTimeout(net.busyTimer);
    if (!on) {
      result.removeAttribute("aria-busy");
      result.classList.remove("waiting");
      return;
    }
    result.setAttribute("aria-busy", "true");
    // Shown only when an answer is slow to come: a local answer takes a few ms and must not flicker.
    net.busyTimer = setTimeout(() => result.classList.add("waiting"), 400);
  }

  // --- showing answers --------------------------------------------------------------------------

  const article = (d) => (d === 8 ? "an" : "a");
  const percent = (p) => `${(p * 100).toFixed(p > 0.995 || p < 0.005 ? 0 : 1)}%`;

  function showResult(answer, asked, settled) {
    if (answer.number !== undefined) return showNumber(answer, asked, settled);
    reading = null;
    digitChips.hidden = true;
    showDigit(answer, settled);
    preview.src = answer.preview;
    seen.hidden = false;
    offerCorrection(asked);
    // static/js/why.js offers "Why?" for a settled answer (pen up, undo, a picture), not for live frames.
    document.dispatchEvent(new CustomEvent("answer-shown", { detail: { asked, answer, settled } }));
  }

  // A whole number: the number in large type, a chip per digit (the most doubtful one selected),
  // the bars of the selected digit, a box around each digit on the canvas.
  function showNumber(answer, asked, settled) {
    const doubtful = answer.digits.reduce((low, d, i, all) => (d.confidence < all[low].confidence ? i : low), 0);
    reading = { answer, asked, selected: doubtful };
    document.dispatchEvent(new Event("drawing-changed")); // numbers have no "Why?" (single digits only)
    digitEl.textContent = answer.number;
    digitEl.classList.remove("stale", "empty", "unsure");
    digitEl.classList.add("number");
    seen.hidden = true;
    digitChips.replaceChildren(...answer.digits.map((digit, i) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.textContent = digit.unsure ? `${digit.digit}?` : String(digit.digit);
      chip.className = digit.unsure ? "unsure" : "";
      chip.setAttribute("aria-label", `Digit ${i + 1}: ${digit.digit}, ${Math.round(digit.confidence * 100)} percent`);
      const pick = () => selectDigit(i);
      chip.addEventListener("click", pick);
      chip.addEventListener("mouseenter", pick);
      chip.addEventListener("focus", pick);
      return chip;
    }));
    digitChips.hidden = false;
    selectDigit(doubtful);
    result.classList.remove("stale");
    statusEl.textContent = "";
    document.body.dataset.prediction = answer.number;
    document.body.dataset.answers = String(Number(document.body.dataset.answers || 0) + 1);
    if (settled) {
      const unsure = answer.digits.filter((d) => d.unsure).length;
      announce.textContent = `Reads ${answer.number.split("").join(" ")}` + (unsure ? `, ${unsure} digit unsure.` : ".");
    }
    const verdictText = answer.unsure ? `Read ${answer.number}; the dashed digits are unsure.` : `Read ${answer.number}.`;
    verdict.textContent = verdictText;
    correctBox.hidden = false;
    thanks.textContent = "";
    answered = null; // corrections go per digit, for the selected one
    redraw();
  }

  function selectDigit(i) {
    if (!reading) return;
    reading.selected = i;
    const digit = reading.answer.digits[i];
    [...digitChips.children].forEach((chip, k) => chip.setAttribute("aria-pressed", String(k === i)));
    showBars(digit.probabilities, digit.digit, digit.unsure);
    $("correct-ask").textContent = `Wrong? Digit ${i + 1} was a …`;
    redraw();
  }

  function showBars(probabilities, top, unsure) {
    bars.forEach((li, d) => {
      const p = probabilities[d];
      li.querySelector(".bar").style.transform = `scaleY(${p})`;
      li.querySelector(".pct").textContent = percent(p);
      li.classList.toggle("winner", d === top && !unsure);
    });
  }

  function showDigit(answer, settled) {
    const top = answer.digit;
    digitEl.classList.remove("number");
    result.classList.remove("stale");
    digitEl.classList.remove("stale", "empty");
    digitEl.textContent = answer.unsure ? "?" : String(top);
    digitEl.classList.toggle("unsure", answer.unsure);
    verdict.textContent = answer.unsure
      ? `Not sure this is a digit (best guess ${top}, ${percent(answer.confidence)}).`
      : `It looks like ${article(top)} ${top} (${percent(answer.confidence)} sure).`;
    showBars(answer.probabilities, top, answer.unsure);
    $("correct-ask").textContent = "Wrong? It was a …";
    statusEl.textContent = "";
    document.body.dataset.prediction = String(top); // for tests and curious people
    document.body.dataset.answers = String(Number(document.body.dataset.answers || 0) + 1);
    if (settled) {
      announce.textContent = answer.unsure
        ? `Not sure this is a digit. Best guess ${top}, ${Math.round(answer.confidence * 100)} percent.`
        : `Looks like ${top}, ${Math.round(answer.confidence * 100)} percent.`;
    }
  }

  function showEmpty() {
    cleared++;
    document.dispatchEvent(new Event("drawing-changed"));
    net.dirty = false;
    net.settle = false;
    clearTimeout(net.retryTimer);
    net.retryTimer = null;
    result.classList.remove("stale");
    digitEl.textContent = "–";
    digitEl.className = "digit empty";
    verdict.textContent = "Draw a digit to see what the network thinks.";
    bars.forEach((li) => {
      li.querySelector(".bar").style.transform = "scaleY(0)";
      li.querySelector(".pct").textContent = "0%";
      li.classList.remove("winner");
    });
    seen.hidden = true;
    statusEl.textContent = "";
    delete document.body.dataset.prediction;
    correctBox.hidden = true;
    answered = null;
    reading = null;
    digitChips.hidden = true;
    digitChips.replaceChildren();
    digitEl.classList.remove("number");
    document.body.dataset.boxes = "0";
  }

  // --- corrections: "Wrong? It was a ..." ------------------------------------------------------

  function offerCorrection(asked) {
    if (answered !== asked) thanks.textContent = ""; // a new answer: an earlier thanks was about another drawing
    answered = asked;
    correctBox.hidden = false;
  }

  async function sendCorrection(label) {
    if (reading && !reading.asked.file) { // number mode: the selected digit's own strokes
      const digit = reading.answer.digits[reading.selected];
      answered = { strokes: digit.strokes.map((i) => reading.asked.strokes[i]),
                   width: reading.asked.width, height: reading.asked.height };
    } else if (reading) {
      thanks.textContent = "Corrections of single digits in a photo of a number are not stored yet.";
      return;
    }
    if (!answered) return;
    let options;
    if (answered.file) {
      const form = new FormData();
      form.append("image", answered.file, answered.file.name || "picture");
      form.append("label", String(label));
      options = { method: "POST", body: form };
    } else {
      options = { method: "POST", headers: { "Content-Type": "application/json" },
                  body: JSON.stringify({ ...answered, label }) };
    }
    thanks.textContent = "Saving…";
    try {
      const response = await fetch("/api/corrections", options);
      const payload = await readJson(response);
      if (!response.ok) throw new Error(payload.error || `the server said ${response.status}`);
      thanks.textContent = `Thanks! Saved as ${article(label)} ${label}; it will help the next model.`;
    } catch (error) {
      thanks.textContent = error instanceof BadAnswer || error instanceof TypeError
        ? "Not saved: can't reach the server." : `Not saved: ${error.message}.`;
    }
  }
  correctBox.querySelectorAll("button[data-label]").forEach((button) =>
    button.addEventListener("click", () => sendCorrection(Number(button.dataset.label))));

  // --- pictures ---------------------------------------------------------------------------------

  // Big photos are shrunk in the browser first: a 12 MP photo is 4 MB on a slow uplink, and the
  // server would reduce it to a few hundred pixels anyway.
  async function shrink(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return file; // a format this browser cannot read: let the server say what it thinks
    }
    const scale = UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height);
    document.body.dataset.uploaded = scale >= 1 ? `${bitmap.width}x${bitmap.height}`
      : `${Math.round(bitmap.width * scale)}x${Math.round(bitmap.height * scale)}`; // for tests and curious people
    if (scale >= 1) return file;
    const small = document.createElement("canvas");
    small.width = Math.round(bitmap.width * scale);
    small.height = Math.round(bitmap.height * scale);
    small.getContext("2d").drawImage(bitmap, 0, 0, small.width, small.height);
    const type = file.type === "image/jpeg" ? "image/jpeg" : "image/png"; // PNG keeps transparency
    const blob = await new Promise((resolve) => small.toBlob(resolve, type, 0.9));
    return blob ? new File([blob], file.name, { type }) : file;
  }

  async function upload(file) {
    if (!file) return;
    endStroke();
    strokes = [];
    drawing++;
    redraw();
    showEmpty();
    statusEl.textContent = `Reading ${file.name}…`;
    const sent = await shrink(file);
    try { // shown on the canvas (with the digits' boxes in Number mode) until the pen draws or Clear
      const bitmap = await createImageBitmap(sent, { imageOrientation: "from-image" });
      picture = { bitmap, width: bitmap.width, height: bitmap.height };
    } catch {
      picture = null; // a format this browser cannot show: the answer still comes
    }
    redraw();
    uploadPicture(sent);
  }

  // XMLHttpRequest, not fetch: it reports upload progress.
  function uploadPicture(file) {
    const asked = { file };
    const clearedAtStart = cleared;
    const form = new FormData();
    form.append("image", file, file.name || "picture");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", numberMode ? "/api/read/image" : "/api/predict/image");
    xhr.timeout = 30000;
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && clearedAtStart === cleared) {
        statusEl.textContent = `Sending the picture… ${Math.round((100 * event.loaded) / event.total)}%`;
      }
    };
    xhr.onload = () => {
      if (clearedAtStart !== cleared) return;
      let payload = null;
      if ((xhr.getResponseHeader("Content-Type") || "").includes("application/json")) {
        try { payload = JSON.parse(xhr.responseText); } catch { payload = null; }
      }
      if (xhr.status === 200 && payload) { net.retries = 0; return showResult(payload, asked, true); }
      const retry = xhr.status >= 500 || xhr.status === 429 || !payload;
      fail(payload && payload.error ? explain(xhr.status, payload.error)
        : "The server sent an answer this page cannot read. Retrying…", retry, asked, true);
    };
    xhr.onerror = () => clearedAtStart === cleared && fail("Can't reach the server. Retrying…", true, asked, true);
    xhr.ontimeout = () => clearedAtStart === cleared && fail("The server is taking too long. Retrying…", true, asked, true);
    xhr.send(form);
  }

  // --- tools and keys ---------------------------------------------------------------------------

  function undo() {
    endStroke(); // Ctrl+Z in the middle of a stroke ends it first, then removes it
    strokes.pop();
    drawing++;
    redraw();
    ask(true);
  }

  function clear() {
    endStroke();
    strokes = [];
    picture = null;
    drawing++;
    redraw();
    showEmpty();
  }

  modeButton.addEventListener("click", () => {
    numberMode = !numberMode;
    modeButton.setAttribute("aria-pressed", String(numberMode));
    document.body.classList.toggle("number-mode", numberMode);
    canvas.setAttribute("aria-label", numberMode ? "Drawing pad: write a number, digits left to right"
      : "Drawing pad: draw one digit with a mouse, a finger or a pen");
    hint.textContent = numberMode ? "Write a number here, left to right" : "Draw a digit here";
    clear();
  });

  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clear);
  fileInput.addEventListener("change", () => {
    upload(fileInput.files[0]);
    fileInput.value = ""; // picking the same file again is a new upload
  });
  window.addEventListener("keydown", (event) => {
    if (event.key === "Escape") clear();
    else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    }
  });
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    upload(event.dataTransfer.files[0]);
  });
  new ResizeObserver(resizeCanvas).observe(canvas);
  window.addEventListener("resize", resizeCanvas); // devicePixelRatio changes with zoom
  resizeCanvas();
})();
