// "Wrong? It was a ...": one correction per drawing (or per digit of a number), and always of the
// drawing on screen. A tap locks the buttons at once (a double click or a second digit cannot store
// twice) with the chosen one shown pressed; a failure unlocks them to try again; a new drawing resets.

import { failureReason, post } from "./client.js";
import { article } from "./view.js";

const TIMEOUT_MS = 30000; // a correction may carry a picture

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
    this.state = "open"; // open, saving, saved
    this.buttons.forEach((button) => button.addEventListener("click", () => this.pick(Number(button.dataset.label))));
  }

  // Offer the buttons for `key`; the same key keeps their state (an answer refreshed by a retry).
  offer(key, question = "Wrong? It was a …") {
    this.box.hidden = false;
    this.ask.textContent = question;
    if (key === this.key) return;
    this.key = key;
    this.state = "open";
    this.say("", "ok");
    this.unlock();
  }

  hide() {
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

  async pick(label) {
    if (this.state !== "open") return; // one correction per drawing: the buttons are locked
    const body = this.body(label);
    if (typeof body === "string") return this.say(body, "error");
    const key = this.key;
    this.state = "saving";
    this.lock(label);
    this.say("Saving…", "progress");
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
