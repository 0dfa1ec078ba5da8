// "Wrong? It was a ...": one correction per drawing (or per digit of a number), and always of the
// drawing on screen. A tap chooses a digit and waits CHANGE_MS before storing it: another tap meanwhile
// changes the choice (a mis-tap is not final), a double click chooses the same digit twice; then the
// buttons lock with the chosen one shown pressed. A failure unlocks them to try again; a new drawing
// stores a waiting choice at once (it was about the drawing on screen when it was made) and resets.

import { failureReason, post } from "./client.js";
import { article } from "./view.js";

const TIMEOUT_MS = 30000; // a correction may carry a picture
const CHANGE_MS = 3000; // a choice can be changed this long before it is stored

const $ = (id) => document.getElementById(id);

export class Corrections {
  // body(label): the JSON object or FormData to store for what is on screen, or a string saying why not
  constructor(box, body) {
    this.box = box;
    this.body = body;
    this.ask = $("correct-ask");
    this.thanks = $("correct-thanks");
    this.buttons = [...box.querySelectorAll("button[data-label]")];
    this.key = null; // what the buttons are about now: a drawing's version (and digit)
    this.state = "open"; // open, waiting (a choice that can still change), saving, saved
    this.waiting = null; // {label, body, key, timer}
    this.buttons.forEach((button) => button.addEventListener("click", () => this.pick(Number(button.dataset.label))));
  }

  // Offer the buttons for `key`; the same key keeps their state (an answer refreshed by a retry).
  offer(key, question = "Wrong? It was a …") {
    if (this.box.hidden) this.box.hidden = false;
    if (this.ask.textContent !== question) this.ask.textContent = question; // no layout per live frame
    if (key === this.key) return;
    this.storeNow();
    this.key = key;
    this.state = "open";
    this.say("", "ok");
    this.unlock();
  }

  hide() {
    this.storeNow();
    this.box.hidden = true;
    this.key = null;
  }

  say(text, tone) {
    this.thanks.textContent = text;
    this.thanks.dataset.tone = tone;
  }

  // aria-disabled, not disabled: a keyboard user's focus stays on the button they pressed.
  lock(label) {
    this.buttons.forEach((button) => {
      button.setAttribute("aria-disabled", "true");
      button.setAttribute("aria-pressed", String(Number(button.dataset.label) === label));
    });
  }

  unlock() {
    this.buttons.forEach((button) => {
      button.removeAttribute("aria-disabled");
      button.setAttribute("aria-pressed", "false");
    });
  }

  pick(label) {
    if (this.state !== "open" && this.state !== "waiting") return; // one correction per drawing
    const body = this.body(label);
    if (typeof body === "string") return this.say(body, "error");
    if (this.waiting) clearTimeout(this.waiting.timer);
    this.waiting = { label, body, key: this.key, timer: setTimeout(() => this.storeNow(), CHANGE_MS) };
    this.state = "waiting";
    this.buttons.forEach((button) =>
      button.setAttribute("aria-pressed", String(Number(button.dataset.label) === label)));
    this.say(`Saving as ${article(label)} ${label} in a moment; tap another digit to change it.`, "progress");
  }

  // Store the waiting choice now (its time is up, or the drawing changed).
  storeNow() {
    if (!this.waiting) return;
    const { label, body, key, timer } = this.waiting;
    clearTimeout(timer);
    this.waiting = null;
    this.store(label, body, key);
  }

  async store(label, body, key) {
    this.state = "saving";
    if (key === this.key) {
      this.lock(label);
      this.say("Saving…", "progress");
    }
    let message;
    try {
      const { status, payload } = await post("/api/corrections", body instanceof FormData ? body
        : JSON.stringify(body), TIMEOUT_MS);
      message = status < 300 ? null : payload.error || `the server said ${status}`;
    } catch (error) {
      message = failureReason(error);
    }
    if (key !== this.key) return; // the drawing changed meanwhile: the buttons are about another one now
    if (message === null) {
      this.state = "saved";
      this.say(`Thanks! Saved as ${article(label)} ${label}; it will help the next model.`, "ok");
      return;
    }
    this.state = "open";
    this.unlock();
    this.say(`Not saved: ${message}. Try again.`, "error");
  }
}
