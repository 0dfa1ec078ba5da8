// The drawing page's wiring: the pad's strokes and pictures go through the one request client, its
// answers to the view and the corrections; modes, tools, keys, drops and the "Try one" examples.

import { Client } from "./client.js";
import { Corrections } from "./corrections.js";
import { EXAMPLES } from "./examples.js";
import { Pad, round } from "./pad.js";
import * as view from "./view.js";
import "./why.js";

const UPLOAD_SIDE = 1024; // photos are shrunk to this long side before they are sent
const $ = (id) => document.getElementById(id);
const canvas = $("pad");
const modeButton = $("mode");

let numberMode = false; // several digits left to right: /api/read instead of /api/predict
let epoch = 0; // bumped by Clear, a mode switch and a new picture: answers from before are dropped
let reading = null; // the number on screen: {answer, job, selected}
const kept = { digit: null, number: null }; // each mode's drawing while the other is in use

const pad = new Pad(canvas, $("hint"), {
  onStart: () => document.dispatchEvent(new Event("drawing-changed")), // an explanation is about the old one
  onMove: () => ask(false),
  onEnd: () => ask(true), // the answer after pen-up is the one announced
  decorate: drawBoxes,
});

const client = new Client({
  onAnswer(payload, job) {
    if (job.epoch !== epoch) return; // cleared, switched or replaced meanwhile: about nothing shown
    if (payload.number !== undefined) showNumber(payload, job);
    else showDigit(payload, job);
  },
  onFailure(message, job) {
    if (job.epoch === epoch) view.showFailure(message, job.settle);
  },
  onBusy: view.showBusy,
  onProgress(job, fraction) {
    if (job.epoch === epoch) view.showStatus(`Sending the picture… ${Math.round(100 * fraction)}%`, "progress");
  },
});

const corrections = new Corrections($("correct"), correctionBody);

// --- asking -----------------------------------------------------------------------------------

function ask(settle) {
  if (!pad.strokes.length) return showNothing();
  const drawing = pad.drawing();
  client.send({ url: numberMode ? "/api/read" : "/api/predict", body: JSON.stringify(drawing), asked: drawing,
                settle, epoch, version: pad.version });
}

function sendPicture(file) {
  const body = new FormData();
  body.append("image", file, file.name || "picture");
  client.send({ url: numberMode ? "/api/read/image" : "/api/predict/image", body, upload: true, asked: { file },
                settle: true, epoch, version: pad.version });
}

// --- answers ------------------------------------------------------------------------------------

function showDigit(answer, job) {
  reading = null;
  view.showDigit(answer, job.settle);
  // A tap or a tick holds no digit to learn from: no buttons (the server would refuse it anyway).
  if (answer.too_little_ink) corrections.hide();
  else corrections.offer(String(job.version));
  // static/js/why.js offers "Why?" for a settled answer (pen up, undo, a picture), not for live frames.
  document.dispatchEvent(new CustomEvent("answer-shown", { detail: { asked: job.asked, answer, settled: job.settle } }));
}

function showNumber(answer, job) {
  const doubtful = answer.digits.reduce((low, d, i, all) => (d.confidence < all[low].confidence ? i : low), 0);
  reading = { answer, job, selected: doubtful };
  document.dispatchEvent(new Event("drawing-changed")); // numbers have no "Why?" (single digits only)
  view.showNumber(answer, job.settle, doubtful, selectDigit);
  offerDigitCorrection();
  pad.redraw();
}

function selectDigit(i) {
  if (!reading) return;
  reading.selected = i;
  view.selectChip(reading.answer, i);
  offerDigitCorrection();
  pad.redraw();
}

function offerDigitCorrection() {
  if (reading.job.asked.file) return corrections.hide(); // one digit of a photo of a number: not stored yet
  corrections.offer(`${reading.job.version}:${reading.selected}`, `Wrong? Digit ${reading.selected + 1} was a …`);
}

function showNothing() {
  reading = null;
  pad.redraw(); // without the number's boxes
  epoch++;
  client.reset();
  view.showEmpty(numberMode);
  corrections.hide();
  document.dispatchEvent(new Event("drawing-changed"));
  $("try").hidden = numberMode;
}

// What a correction stores: always the drawing (or picture) on screen, or why not.
function correctionBody(label) {
  if (reading) {
    if (reading.job.version !== pad.version) return "Wait for the answer to this drawing first.";
    if (reading.job.asked.file) return "Corrections of single digits in a photo of a number are not stored yet.";
    const digit = reading.answer.digits[reading.selected];
    const { strokes, width, height } = reading.job.asked;
    return { strokes: digit.strokes.map((i) => strokes[i]), width, height, label };
  }
  if (pad.picture && pad.picture.file) {
    const form = new FormData();
    form.append("image", pad.picture.file, pad.picture.file.name || "picture");
    form.append("label", String(label));
    return form;
  }
  return pad.strokes.length ? { ...pad.drawing(), label } : "Draw a digit first.";
}

// Number mode: a box round each digit read (canvas units for a drawing; a picture's pixels, placed where
// the picture is shown). While the pen moves they may lag the newest stroke by one answer.
function drawBoxes(ctx, pictureFit, drawn) {
  const onPicture = Boolean(reading && reading.job.asked.file && pictureFit);
  const boxes = reading && (!reading.job.asked.file || onPicture) ? reading.answer.digits : [];
  document.body.dataset.boxes = String(boxes.length);
  const fit = onPicture ? pictureFit : { scale: 1, dx: 0, dy: 0 };
  const margin = onPicture ? 3 : drawn.brush / 2 + 2; // round a drawing's boxes: half the pen's width
  const colours = getComputedStyle(document.documentElement);
  boxes.forEach((digit, i) => {
    const [x, y, w, h] = digit.box.map((v) => v * fit.scale);
    ctx.save();
    ctx.lineWidth = i === reading.selected ? 3 : 1.5;
    ctx.setLineDash(digit.unsure ? [6, 4] : []);
    ctx.strokeStyle = colours.getPropertyValue(digit.unsure ? "--unsure" : "--accent");
    ctx.strokeRect(fit.dx + x - margin, fit.dy + y - margin, w + 2 * margin, h + 2 * margin);
    ctx.restore();
  });
}

// --- pictures -------------------------------------------------------------------------------------

// Big photos are shrunk in the browser first: a 12 MP photo is 4 MB on a slow uplink, and the server
// would reduce it to a few hundred pixels anyway.
async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return { file, bitmap: null }; // a format this browser cannot read: let the server say what it thinks
  }
  const scale = UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height);
  const [width, height] = scale >= 1 ? [bitmap.width, bitmap.height]
    : [Math.round(bitmap.width * scale), Math.round(bitmap.height * scale)];
  document.body.dataset.uploaded = `${width}x${height}`; // for tests and curious people
  if (scale >= 1) return { file, bitmap };
  const small = Object.assign(document.createElement("canvas"), { width, height });
  small.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  const type = file.type === "image/jpeg" ? "image/jpeg" : "image/png"; // PNG keeps transparency
  const blob = await new Promise((resolve) => small.toBlob(resolve, type, 0.9));
  return { file: blob ? new File([blob], file.name, { type }) : file, bitmap };
}

async function upload(file) {
  if (!file) return;
  showNothing();
  $("try").hidden = true;
  pad.showPicture(null);
  view.showStatus(`Reading ${file.name}…`, "progress");
  const started = epoch;
  const sent = await shrink(file);
  if (started !== epoch) return; // cleared or replaced while shrinking
  // Shown on the canvas (with the digits' boxes in Number mode) until the pen draws or Clear.
  pad.showPicture({ bitmap: sent.bitmap, width: sent.bitmap?.width, height: sent.bitmap?.height, file: sent.file });
  $("try").hidden = true;
  sendPicture(sent.file);
}

// --- tools, modes, keys -----------------------------------------------------------------------------

function clear() {
  const had = !pad.empty;
  pad.clear();
  showNothing();
  if (had) view.announce("Cleared.");
}

function undo() {
  pad.undo(); // on an empty pad: brings back what Clear (or Esc) took away
  if (pad.picture && pad.picture.file) sendPicture(pad.picture.file);
  else ask(true);
}

function switchMode() {
  kept[numberMode ? "number" : "digit"] = pad.takeState();
  numberMode = !numberMode;
  modeButton.setAttribute("aria-pressed", String(numberMode));
  document.body.classList.toggle("number-mode", numberMode);
  canvas.setAttribute("aria-label", numberMode ? "Drawing pad: write a number, digits left to right"
    : "Drawing pad: draw one digit with a mouse, a finger or a pen");
  $("hint").textContent = numberMode ? "Write a number here, left to right" : "Draw a digit here";
  document.querySelector("h1").textContent = numberMode ? "Write a number and see what the network reads"
    : "Draw a digit and see what the network thinks it is";
  showNothing();
  pad.resize(); // the canvas changed shape: measure it before the kept drawing goes back in
  pad.putState(kept[numberMode ? "number" : "digit"]); // each mode keeps its own drawing
  if (pad.picture && pad.picture.file) {
    $("try").hidden = true;
    sendPicture(pad.picture.file);
  } else if (pad.strokes.length) {
    $("try").hidden = true;
    ask(true);
  }
}

function tryExample(digit) {
  const { width, height } = pad.size;
  const side = Math.min(width, height), left = (width - side) / 2, top = (height - side) / 2;
  pad.clear();
  showNothing();
  for (const stroke of EXAMPLES[digit]) {
    pad.begin([round(left + stroke[0][0] * side), round(top + stroke[0][1] * side)]);
    pad.extend(stroke.slice(1).map(([x, y]) => [round(left + x * side), round(top + y * side)]));
    pad.finish();
  }
  $("try").hidden = true;
  ask(true);
}

modeButton.addEventListener("click", switchMode);
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", clear);
document.querySelectorAll("#try button[data-example]").forEach((button) =>
  button.addEventListener("click", () => tryExample(button.dataset.example)));
const fileInput = $("file");
fileInput.addEventListener("change", () => {
  upload(fileInput.files[0]);
  fileInput.value = ""; // picking the same file again is a new upload
});
window.addEventListener("keydown", (event) => {
  if (event.defaultPrevented) return; // taken already (Esc in the Why? panel closes only the panel)
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
document.addEventListener("drawing-changed", () => { $("try").hidden = true; });
showNothing();
$("try").hidden = false;
