// "Wrong? It was a ...": one correction per drawing (or per digit of a number), and always of the
// drawing on screen. A tap locks the buttons at once (a double click or a second digit cannot store
// twice) with the chosen one shown pressed; a failure unlocks them to try again; a new drawing resets.

import { article } from "./view.js";

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
    const options = body instanceof FormData ? { method: "POST", body }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    let message;
    try {
      const response = await fetch("/api/corrections", options);
      const type = response.headers.get("Content-Type") || "";
      const payload = type.includes("application/json") ? await response.json() : {};
      if (!response.ok) throw new Error(payload.error || `the server said ${response.status}`);
      message = null;
    } catch (error) {
      message = error instanceof TypeError ? "can't reach the server" : error.message;
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
