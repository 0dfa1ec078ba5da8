// Digit Canvas drawing page: records strokes in CSS pixels and asks the server what digit they are.
"use strict";

(() => {
  const PREDICT_EVERY_MS = 50; // while the pointer moves: often enough to feel live, not a request per event
  const BRUSH = 16; // display only: the server redraws the strokes at its own, size-relative width

  const canvas = document.getElementById("pad");
  const ctx = canvas.getContext("2d");
  const hint = document.getElementById("hint");
  const digitEl = document.getElementById("digit");
  const verdict = document.getElementById("verdict");
  const preview = document.getElementById("preview");
  const seen = document.getElementById("seen");
  const statusEl = document.getElementById("status");
  const bars = [...document.querySelectorAll("#bars li")];
  const correctBox = document.getElementById("correct");
  const thanks = document.getElementById("correct-thanks");

  let strokes = []; // [[[x, y], ...], ...] in canvas CSS pixels
  let activePointer = null; // one pointer draws at a time; a second finger is ignored
  let cssSize = { width: 0, height: 0 };
  let lastSent = 0;
  let pendingTimer = null;
  let inFlight = null; // AbortController of the newest request
  let generation = 0; // answers to anything older than the newest request are dropped
  let answered = null; // what the shown answer is about: {strokes, width, height} or {file}, for a correction

  // devicePixelRatio-aware canvas: sharp on high-DPI screens; redraw kept strokes at the new size.
  function resizeCanvas() {
    const rect = { width: canvas.clientWidth, height: canvas.clientHeight }; // inside the border
    if (!rect.width || !rect.height) return;
    if (cssSize.width) {
      const sx = rect.width / cssSize.width, sy = rect.height / cssSize.height;
      strokes = strokes.map((s) => s.map(([x, y]) => [x * sx, y * sy]));
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
    strokes.forEach(drawStroke);
    hint.hidden = strokes.length > 0;
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

  function pointFrom(event) {
    const rect = canvas.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - rect.left - canvas.clientLeft, 0), cssSize.width);
    const y = Math.min(Math.max(event.clientY - rect.top - canvas.clientTop, 0), cssSize.height);
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (activePointer !== null || event.button > 0) return;
    event.preventDefault();
    activePointer = event.pointerId;
    strokes.push([pointFrom(event)]);
    redraw(); // no request yet: a lone dot says nothing; moving or lifting the pen asks
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
    schedulePredict();
  }, { passive: false });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    predictNow();
  }
  window.addEventListener("pointerup", endStroke);
  window.addEventListener("pointercancel", endStroke);

  // Throttle: at most one request per PREDICT_EVERY_MS while drawing, and always one at the end.
  function schedulePredict() {
    const wait = PREDICT_EVERY_MS - (performance.now() - lastSent);
    if (wait <= 0) return predictNow();
    if (!pendingTimer) pendingTimer = setTimeout(predictNow, wait);
  }

  function predictNow() {
    clearTimeout(pendingTimer);
    pendingTimer = null;
    lastSent = performance.now();
    if (!strokes.length) return showEmpty();
    const asked = { strokes: strokes.map((s) => s.slice()), width: cssSize.width, height: cssSize.height };
    send("/api/predict", asked, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ strokes, width: cssSize.width, height: cssSize.height }),
    });
  }

  async function send(url, asked, options) {
    if (inFlight) inFlight.abort(); // a newer drawing makes the older question stale
    const controller = new AbortController();
    inFlight = controller;
    const mine = ++generation;
    try {
      const response = await fetch(url, { ...options, signal: controller.signal });
      const payload = await response.json();
      if (mine !== generation) return;
      if (!response.ok) throw new Error(payload.error || `server said ${response.status}`);
      showResult(payload);
      offerCorrection(asked);
    } catch (error) {
      if (error.name === "AbortError" || mine !== generation) return;
      showError(error.message);
    }
  }

  function showResult(result) {
    const top = result.digit;
    digitEl.textContent = result.unsure ? "?" : String(top);
    digitEl.classList.toggle("unsure", result.unsure);
    verdict.textContent = result.unsure
      ? `Not sure this is a digit (best guess ${top}, ${percent(result.confidence)}).`
      : `It looks like a ${top} (${percent(result.confidence)} sure).`;
    bars.forEach((li, d) => {
      const p = result.probabilities[d];
      li.querySelector(".bar").style.transform = `scaleX(${p})`;
      li.querySelector(".pct").textContent = percent(p);
      li.classList.toggle("winner", d === top);
    });
    preview.src = result.preview;
    seen.hidden = false;
    statusEl.textContent = "";
    document.body.dataset.prediction = String(top); // for tests and curious people
  }

  function showEmpty() {
    if (inFlight) inFlight.abort();
    generation++;
    digitEl.textContent = "–";
    digitEl.classList.remove("unsure");
    verdict.textContent = "Draw a digit to see what the network thinks.";
    bars.forEach((li) => {
      li.querySelector(".bar").style.transform = "scaleX(0)";
      li.querySelector(".pct").textContent = "0%";
      li.classList.remove("winner");
    });
    seen.hidden = true;
    statusEl.textContent = "";
    delete document.body.dataset.prediction;
    correctBox.hidden = true;
    answered = null;
  }

  // "Wrong? It was a ...": one tap stores what the shown answer was about, with the right label.
  function offerCorrection(asked) {
    thanks.textContent = ""; // a new answer: any earlier thanks was about another drawing
    answered = asked;
    correctBox.hidden = false;
  }

  async function sendCorrection(label) {
    if (!answered) return;
    let options;
    if (answered.file) {
      const form = new FormData();
      form.append("image", answered.file);
      form.append("label", String(label));
      options = { method: "POST", body: form };
    } else {
      options = { method: "POST", headers: { "Content-Type": "application/json" },
                  body: JSON.stringify({ ...answered, label }) };
    }
    thanks.textContent = "Saving…";
    try {
      const response = await fetch("/api/corrections", options);
      const payload = await response.json();
      if (!response.ok) throw new Error(payload.error || `server said ${response.status}`);
      thanks.textContent = `Thanks! Saved as a ${label}; it will help the next model.`;
    } catch (error) {
      thanks.textContent = `Not saved: ${error.message}`;
    }
  }
  correctBox.querySelectorAll("button[data-label]").forEach((button) =>
    button.addEventListener("click", () => sendCorrection(Number(button.dataset.label))));

  function showError(message) {
    statusEl.textContent = message;
  }

  const percent = (p) => `${(p * 100).toFixed(p > 0.995 || p < 0.005 ? 0 : 1)}%`;

  function undo() {
    strokes.pop();
    redraw();
    predictNow();
  }

  function clear() {
    strokes = [];
    redraw();
    showEmpty();
  }

  function upload(file) {
    if (!file) return;
    strokes = [];
    redraw();
    const form = new FormData();
    form.append("image", file);
    statusEl.textContent = `Reading ${file.name}…`;
    send("/api/predict/image", { file }, { method: "POST", body: form });
  }

  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("file").addEventListener("change", (e) => upload(e.target.files[0]));
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
