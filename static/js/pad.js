// The drawing pad: strokes in the canvas's CSS pixels from pointer events (one active pointer,
// window-level move and up listeners, touch-action: none in the stylesheet) or from the keyboard pen;
// a devicePixelRatio-aware canvas; a picture shown until the pen draws; boxes drawn over it by the caller.

export const round = (v) => Math.round(v * 10) / 10; // 0.1 px is finer than any pointer; shorter bodies

// The pen's width follows the canvas: 16 px on a 320 px pad, thinner on a short Number strip so a
// small digit does not become a blob (the server redraws at its own width anyway).
const brushFor = (size) => Math.min(16, Math.max(5, 0.05 * Math.min(size.width, size.height)));
const KEY_STEP = 0.02; // the keyboard pen moves 2% of the canvas per arrow press, 8% with Shift

export class Pad {
  // onStart(): a stroke began; onMove(): it grew; onEnd(): the pen lifted; decorate(ctx, pictureFit, pad)
  constructor(canvas, hint, { onStart, onMove, onEnd, decorate }) {
    Object.assign(this, { canvas, hint, onStart, onMove, onEnd, decorate });
    this.ctx = canvas.getContext("2d");
    this.strokes = []; // [[[x, y], ...], ...] in canvas CSS pixels
    this.size = { width: 0, height: 0 };
    this.picture = null; // {bitmap, width, height, file}: shown until the pen draws
    this.pictureFit = null; // where it is drawn: {scale, dx, dy} from its pixels to canvas CSS pixels
    this.version = 0; // bumped by every change to the drawing
    this.pointer = null; // one pointer draws at a time; a second finger is ignored
    this.keyPen = null; // {x, y, down}: the keyboard pen, while the canvas has focus
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
    window.addEventListener("resize", () => this.resize()); // devicePixelRatio changes with zoom
    this.resize();
  }

  get brush() { return brushFor(this.size); }
  get empty() { return !this.strokes.length && !this.picture; }

  // What to send: a copy of the strokes and the canvas size they are in.
  drawing() {
    return { strokes: this.strokes.map((s) => s.slice()), width: round(this.size.width), height: round(this.size.height) };
  }

  resize() {
    const width = this.canvas.clientWidth, height = this.canvas.clientHeight; // inside the border
    if (!width || !height) return;
    if (this.size.width && (width !== this.size.width || height !== this.size.height)) {
      this.strokes = scaled(this.strokes, width / this.size.width, height / this.size.height);
    }
    this.size = { width, height };
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this.redraw();
  }

  redraw() {
    const { ctx, size } = this;
    ctx.clearRect(0, 0, size.width, size.height);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = this.brush;
    this.inkColour = getComputedStyle(this.canvas).color; // kept for drawOn: no style read per event
    ctx.strokeStyle = ctx.fillStyle = this.inkColour;
    this.drawPicture();
    this.strokes.forEach((stroke) => this.drawStroke(stroke));
    this.decorate(ctx, this.pictureFit, this);
    this.drawKeyPen();
    this.hint.hidden = !this.empty;
    document.body.dataset.strokes = String(this.strokes.length); // for tests and curious people
  }

  drawPicture() {
    this.pictureFit = null;
    if (!this.picture || this.strokes.length || !this.picture.bitmap) return;
    const { width, height, bitmap } = this.picture;
    const scale = Math.min(this.size.width / width, this.size.height / height);
    this.pictureFit = { scale, dx: (this.size.width - width * scale) / 2, dy: (this.size.height - height * scale) / 2 };
    this.ctx.drawImage(bitmap, this.pictureFit.dx, this.pictureFit.dy, width * scale, height * scale);
  }

  drawStroke(points) {
    const { ctx } = this;
    ctx.beginPath();
    if (points.length === 1) {
      ctx.arc(points[0][0], points[0][1], this.brush / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.moveTo(...points[0]);
    for (const point of points.slice(1)) ctx.lineTo(...point);
    ctx.stroke();
  }

  drawKeyPen() {
    if (!this.keyPen) return;
    const { ctx } = this;
    ctx.save();
    ctx.lineWidth = 2;
    ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent");
    ctx.beginPath();
    ctx.arc(this.keyPen.x, this.keyPen.y, this.keyPen.down ? this.brush / 2 + 3 : 8, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.restore();
  }

  // --- changes ---------------------------------------------------------------------------------

  changed() {
    this.version++;
  }

  begin(point) {
    this.cleared = null; // drawing again: Undo now takes back strokes, not the Clear
    this.strokes.push([point]);
    this.picture = null; // drawing replaces a shown picture
    this.changed();
    this.onStart();
    this.redraw();
  }

  // A growing stroke is drawn on: only its new points, not the whole drawing again (a full redraw per
  // pointer event grows with the drawing, and a slow phone's frames with it). The keyboard pen's ring
  // moves with it, so the keyboard redraws.
  extend(points) {
    const stroke = this.strokes[this.strokes.length - 1];
    const from = stroke[stroke.length - 1];
    stroke.push(...points);
    this.changed();
    if (this.keyPen) this.redraw();
    else this.drawOn(from, points);
    this.onMove();
  }

  drawOn(from, points) {
    const { ctx } = this;
    ctx.save();
    Object.assign(ctx, { lineCap: "round", lineJoin: "round", lineWidth: this.brush, strokeStyle: this.inkColour });
    ctx.beginPath();
    ctx.moveTo(...from);
    for (const point of points) ctx.lineTo(...point);
    ctx.stroke();
    ctx.restore();
  }

  // End the stroke being drawn (pointer or keyboard); true if there was one.
  finish() {
    const drawing = this.pointer !== null || Boolean(this.keyPen && this.keyPen.down);
    this.pointer = null;
    if (this.keyPen) this.keyPen.down = false;
    return drawing;
  }

  clear() {
    this.finish();
    if (this.strokes.length || this.picture) this.cleared = { strokes: this.strokes, picture: this.picture };
    this.strokes = [];
    this.picture = null;
    this.changed();
    this.redraw();
  }

  // Takes back the last stroke; on an empty pad, the Clear (or Esc) that emptied it.
  undo() {
    this.finish(); // Ctrl+Z in the middle of a stroke ends it first, then removes it
    if (!this.strokes.length && !this.picture && this.cleared) {
      ({ strokes: this.strokes, picture: this.picture } = this.cleared);
      this.cleared = null;
    } else {
      this.strokes.pop();
    }
    this.changed();
    this.redraw();
  }

  showPicture(picture) {
    this.finish();
    this.strokes = [];
    this.picture = picture;
    this.changed();
    this.redraw();
  }

  // Each mode keeps its own drawing: take it out, and later put it back at this canvas's size.
  takeState() {
    this.finish();
    return { strokes: this.strokes, size: this.size, picture: this.picture };
  }

  putState(state) {
    this.strokes = state && state.size.width
      ? scaled(state.strokes, this.size.width / state.size.width, this.size.height / state.size.height) : [];
    this.picture = state ? state.picture : null;
    this.changed();
    this.redraw();
  }

  // --- input ------------------------------------------------------------------------------------

  // The canvas's place is read once per stroke (at pen-down), not per pointer event: a layout read on every
  // move forced a style recalculation each time (83 long tasks per 10 digits on a slow phone).
  // Its border's width too (clientLeft/clientTop are layout reads as well: after an answer changed the text,
  // each one forced a whole-page layout in the middle of the pointer event).
  pointFrom(event, { left, top } = this.origin) {
    const x = Math.min(Math.max(event.clientX - left, 0), this.size.width);
    const y = Math.min(Math.max(event.clientY - top, 0), this.size.height);
    return [round(x), round(y)];
  }

  placeOnPage() {
    const rect = this.canvas.getBoundingClientRect();
    this.origin = { left: rect.left + this.canvas.clientLeft, top: rect.top + this.canvas.clientTop };
  }

  listen() {
    this.canvas.addEventListener("pointerdown", (event) => {
      if (this.pointer !== null || event.button > 0) return;
      event.preventDefault();
      this.pointer = event.pointerId;
      this.placeOnPage();
      this.begin(this.pointFrom(event)); // no request yet: moving or lifting the pen asks
    });
    window.addEventListener("pointermove", (event) => {
      if (event.pointerId !== this.pointer) return;
      event.preventDefault();
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      this.extend((events.length ? events : [event]).map((e) => this.pointFrom(e)));
    }, { passive: false });
    const up = (event) => {
      if (event.pointerId !== this.pointer) return;
      this.pointer = null;
      this.onEnd();
    };
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", up);
    this.canvas.addEventListener("focus", () => {
      this.keyPen = { x: round(this.size.width / 2), y: round(this.size.height / 2), down: false };
      this.redraw();
    });
    this.canvas.addEventListener("blur", () => {
      const wasDown = this.keyPen && this.keyPen.down;
      this.keyPen = null;
      this.redraw();
      if (wasDown) this.onEnd();
    });
    this.canvas.addEventListener("keydown", (event) => this.onKey(event));
  }

  // The keyboard pen: arrows move it (Shift: further), Space or Enter puts it down or lifts it.
  onKey(event) {
    const pen = this.keyPen;
    if (!pen) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      pen.down = !pen.down;
      if (pen.down) this.begin([pen.x, pen.y]);
      else { this.redraw(); this.onEnd(); }
      return;
    }
    if (!moves[event.key]) return;
    event.preventDefault(); // arrows move the pen, not the page
    const step = (event.shiftKey ? 4 : 1) * KEY_STEP * Math.min(this.size.width, this.size.height);
    pen.x = round(Math.min(Math.max(pen.x + moves[event.key][0] * step, 0), this.size.width));
    pen.y = round(Math.min(Math.max(pen.y + moves[event.key][1] * step, 0), this.size.height));
    if (pen.down) this.extend([[pen.x, pen.y]]);
    else this.redraw();
  }
}

function scaled(strokes, sx, sy) {
  return strokes.map((stroke) => stroke.map(([x, y]) => [round(x * sx), round(y * sy)]));
}
