// The "Why?" panel: asks /api/explain about the single-digit answer on screen and shows the evidence,
// the lookalikes and the network's inner maps. It listens to app.js's events ("answer-shown",
// "drawing-changed") and owns nothing else on the page.

import { failureReason, post } from "./client.js";
import { article, percent } from "./view.js";

const $ = (id) => document.getElementById(id);
const openButton = $("why-open");
const panel = $("why");
const statusLine = $("why-status");
const TIMEOUT_MS = 15000;
const TILE = 120; // CSS pixels of each evidence tile

let current = null; // the settled answer the button is about: {asked, answer}
let shownFor = null; // the drawing or picture whose explanation the panel holds
let ticket = 0; // bumped by every request and every change: a late explanation of an old drawing is dropped


function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// --- colours: taken from the stylesheet, so the tiles follow light and dark mode -----------------

function rgb(name) {
  const probe = element("span");
  probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  document.body.append(probe);
  const [r, g, b] = getComputedStyle(probe).color.match(/\d+/g).map(Number);
  probe.remove();
  return [r, g, b];
}

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));
const css = ([r, g, b]) => `rgb(${r}, ${g}, ${b})`;

function palette() {
  return { paper: rgb("--pad-bg"), ink: rgb("--pad-ink"), for: rgb("--for"), against: rgb("--against"),
           more: rgb("--more") };
}

function scaleOf(values) {
  return Math.max(1e-6, ...values.map((v) => Math.abs(v)));
}

// --- tiles --------------------------------------------------------------------------------------

function tile(label, caption) {
  const canvas = element("canvas", { width: TILE * devicePixelRatio, height: TILE * devicePixelRatio });
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  return { canvas, figure: element("figure", {}, [canvas, element("figcaption", { textContent: caption })]) };
}

async function pixelsOf(dataUrl) {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  const small = element("canvas", { width: 28, height: 28 });
  const context = small.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, 28, 28).data;
  return Array.from({ length: 784 }, (_, i) => data[4 * i] / 255);
}

// The 28x28 image the network saw, as ink on the pad's paper, tinted by an evidence map.
function paintImage(canvas, ink, evidence, colours, positive, negative) {
  const flat = evidence.flat();
  const top = scaleOf(flat);
  const small = element("canvas", { width: 28, height: 28 });
  const context = small.getContext("2d");
  const image = context.createImageData(28, 28);
  flat.forEach((value, i) => {
    const base = mix(colours.paper, colours.ink, 0.55 * ink[i]);
    const strength = Math.min(1, Math.abs(value) / top);
    const [r, g, b] = value > 0 ? mix(base, positive, strength) : value < 0 ? mix(base, negative, strength) : base;
    image.data.set([r, g, b, 255], 4 * i);
  });
  context.putImageData(image, 0, 0);
  const target = canvas.getContext("2d");
  target.imageSmoothingEnabled = false;
  target.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// The user's own strokes, each piece coloured by the evidence under it.
function paintStrokes(canvas, strokes, values, colours) {
  const points = strokes.flat();
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
  const span = Math.max(Math.max(...xs) - x0, Math.max(...ys) - y0, 1);
  const size = canvas.width, margin = 0.12 * size;
  const scale = (size - 2 * margin) / span;
  const offset = [(size - (Math.max(...xs) - x0) * scale) / 2, (size - (Math.max(...ys) - y0) * scale) / 2];
  const at = ([x, y]) => [offset[0] + (x - x0) * scale, offset[1] + (y - y0) * scale];
  const top = scaleOf(values.flat());
  const context = canvas.getContext("2d");
  context.fillStyle = css(colours.paper);
  context.fillRect(0, 0, size, size);
  context.lineCap = "round";
  context.lineWidth = 0.05 * size;
  const grey = mix(colours.paper, colours.ink, 0.55);
  const colourOf = (value) => mix(grey, value >= 0 ? colours.for : colours.against, Math.min(1, Math.abs(value) / top));
  strokes.forEach((stroke, s) => {
    if (stroke.length === 1) {
      context.fillStyle = css(colourOf(values[s][0]));
      context.beginPath();
      context.arc(...at(stroke[0]), context.lineWidth / 2, 0, 2 * Math.PI);
      context.fill();
    }
    for (let i = 1; i < stroke.length; i++) {
      context.strokeStyle = css(colourOf((values[s][i - 1] + values[s][i]) / 2));
      context.beginPath();
      context.moveTo(...at(stroke[i - 1]));
      context.lineTo(...at(stroke[i]));
      context.stroke();
    }
  });
}

async function showEvidence(body, asked) {
  const colours = palette();
  const ink = await pixelsOf(body.preview);
  const [digit, runner] = [body.digit, body.runner_up];
  const tiles = [];
  if (body.evidence.drawing) {
    const own = tile(`Your drawing, coloured blue where the ink counted for ${digit} and orange where it counted against`,
      "your drawing");
    paintStrokes(own.canvas, asked.strokes, body.evidence.drawing.answer, colours);
    tiles.push(own);
  }
  const answer = tile(`The 28 by 28 image the network saw, blue where the ink counted for ${digit}, orange against`,
    `for / against ${digit}`);
  paintImage(answer.canvas, ink, body.evidence.answer, colours, colours.for, colours.against);
  const second = tile(`The same image, blue where the ink counted for ${runner}, orange against`,
    `for / against ${runner}`);
  paintImage(second.canvas, ink, body.evidence.runner_up, colours, colours.for, colours.against);
  const more = tile(`The same image, green where more ink would make it look more like ${article(runner)} ${runner}`,
    `more ink here: ${runner}`);
  paintImage(more.canvas, ink, body.evidence.more_like_runner_up, colours, colours.more, colours.more);
  tiles.push(answer, second, more);
  $("why-evidence").replaceChildren(...tiles.map((t) => t.figure));
}

// --- lookalikes, layers, fusion -------------------------------------------------------------------

function lookalike(item) {
  const alt = `${article(item.label)} ${item.label} from ${item.source}, ${Math.round(item.similarity * 100)}% alike`;
  return element("figure", {}, [
    element("img", { src: item.png, alt, width: 48, height: 48 }),
    element("figcaption", { textContent: `${item.label} · ${item.source}` }),
  ]);
}

function showLookalikes(body) {
  $("why-lookalikes").replaceChildren(...body.neighbours.map(lookalike));
  $("why-runner-title").textContent = body.runner_up_neighbours.length
    ? `The closest ${body.runner_up}s (the runner-up), for comparison:` : "";
  $("why-runner-lookalikes").replaceChildren(...body.runner_up_neighbours.map(lookalike));
  if (!body.neighbours.length) {
    $("why-lookalikes").replaceChildren(element("p", { className: "small", textContent: "No lookalikes on this server." }));
  }
}

function showFusion(body) {
  const top = (p) => p.indexOf(Math.max(...p));
  const said = (p) => `${top(p)} (${percent(Math.max(...p))})`;
  const fusion = body.fusion;
  $("why-fusion").textContent = fusion && fusion.path
    ? `Two models read a drawing. The picture model alone says ${said(fusion.picture)}; the pen-path model, which `
      + `reads the order and direction of your strokes, says ${said(fusion.path)}; together `
      + `(${Math.round((1 - fusion.path_weight) * 100)}:${Math.round(fusion.path_weight * 100)}): ${said(fusion.fused)}.`
    : "Only the picture model reads this (a picture has no pen path). Its layers, first to last:";
}

function showLayers(body) {
  $("why-layers").replaceChildren(...body.layers.map((layer, n) => {
    const [height, width, count] = layer.shape;
    const maps = layer.maps.map((m) => element("img", {
      src: m.png, width: 42, height: 42,
      alt: `Layer ${n + 1}, map ${m.channel}: average strength ${m.strength.toFixed(2)}`,
    }));
    return element("div", { className: "why-layer" }, [
      element("h4", { textContent: `Layer ${n + 1}: ${count} maps of ${width}×${height}, the strongest ${maps.length}` }),
      element("p", { className: "small", textContent: layer.note }),
      element("div", { className: "why-maps" }, maps),
    ]);
  }));
}

// --- asking and showing -----------------------------------------------------------------------------

function requestBody(asked) {
  if (!asked.file) return JSON.stringify(asked);
  const form = new FormData();
  form.append("image", asked.file, asked.file.name || "picture");
  return form;
}

async function explainAnswer() {
  if (!current) return;
  const mine = ++ticket;
  const { asked, answer } = current;
  panel.hidden = false;
  openButton.setAttribute("aria-expanded", "true");
  $("why-title").textContent = `Why ${answer.digit}?`;
  $("why-caption").textContent = "";
  statusLine.textContent = "Looking inside the network…";
  let reply;
  try {
    reply = await post("/api/explain", requestBody(asked), TIMEOUT_MS);
  } catch (error) {
    if (mine === ticket) statusLine.textContent = `No explanation: ${failureReason(error)}. Try again.`;
    return;
  }
  if (mine !== ticket) return;
  const { status, payload: body } = reply;
  if (status !== 200) {
    statusLine.textContent = `No explanation: ${body.error || `the server said ${status}`}.`;
    return;
  }
  try {
    await show(body, asked);
    if (mine !== ticket) return;
    shownFor = asked;
    statusLine.textContent = "";
    panel.focus(); // announced once: the panel's name and its caption (aria-describedby)
    document.body.dataset.explained = String(body.digit); // for tests and curious people
  } catch (error) {
    if (mine === ticket) statusLine.textContent = `No explanation: ${error.message}.`; // a picture it cannot show
  }
}

async function show(body, asked) {
  $("why-title").textContent = body.unsure ? `Why ${body.digit}? (the network is unsure)` : `Why ${body.digit}?`;
  $("why-caption").textContent = body.caption;
  await showEvidence(body, asked);
  showLookalikes(body);
  showFusion(body);
  showLayers(body);
}

function close() {
  ticket++;
  panel.hidden = true;
  openButton.setAttribute("aria-expanded", "false");
}

function hide() {
  const focusInside = panel.contains(document.activeElement);
  close();
  current = null;
  shownFor = null;
  openButton.hidden = true;
  if (focusInside) $("pad").focus?.();
}

document.addEventListener("answer-shown", (event) => {
  const { asked, answer, settled } = event.detail;
  if (!settled) return hide(); // a live frame while the pen moves: nothing settled to explain
  if (answer.too_little_ink) return hide(); // a tap or a tick: no digit, so nothing to explain
  current = { asked, answer };
  openButton.textContent = answer.unsure ? "Why unsure?" : `Why ${answer.digit}?`;
  openButton.hidden = false;
  if (!panel.hidden && shownFor !== asked) explainAnswer(); // an open panel follows the answer (undo)
});
document.addEventListener("drawing-changed", hide);
openButton.addEventListener("click", () => {
  if (!panel.hidden && shownFor === current?.asked) {
    close();
    return;
  }
  explainAnswer();
});
$("why-close").addEventListener("click", () => {
  close();
  openButton.focus();
});
panel.setAttribute("aria-describedby", "why-caption");
panel.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || panel.hidden) return;
  event.preventDefault(); // Esc here closes the panel only; the drawing stays
  close();
  openButton.focus();
});
