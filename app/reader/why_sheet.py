"""An explanation as one PNG sheet (python -m app.predict --explain IMAGE): drawn from the very JSON that
/api/explain returns, so the sheet and the page show the same thing."""

from __future__ import annotations

import base64
import textwrap

import cv2
import numpy as np

TILE, SMALL, GAP = 112, 56, 10  # pixels: the evidence tiles, the lookalikes and maps, between them
PAPER, INK_TEXT = (255, 255, 255), (30, 30, 30)
# BGR, as the page draws them (static/style.css): blue for, orange against, green "more ink here".
FOR, AGAINST, MORE = np.array([216, 78, 29]), np.array([12, 65, 194]), np.array([61, 128, 21])


def decoded(data_url: str) -> np.ndarray:
    """A PNG data URL's grey pixels (0..1)."""
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def heat(image: np.ndarray, evidence: np.ndarray, positive=FOR, negative=AGAINST) -> np.ndarray:
    """The 28x28 image as dark ink on paper, tinted by evidence: `positive` where it counted for, `negative` against."""
    scale = max(float(np.abs(evidence).max()), 1e-6)
    strength = np.clip(evidence / scale, -1, 1)[..., None]
    base = (1 - 0.6 * image[..., None]) * 255  # grey ink on white: the tint shows on it
    tinted = np.where(strength > 0, base * (1 - strength) + positive * strength,
                      base * (1 + strength) - negative * strength)
    return _tile(tinted.astype(np.uint8), TILE)


def _tile(pixels: np.ndarray, side: int) -> np.ndarray:
    """Pixels (grey or BGR) enlarged to side x side without smoothing, as BGR."""
    big = cv2.resize(pixels, (side, side), interpolation=cv2.INTER_NEAREST)
    return big if big.ndim == 3 else cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """The tile with a line of text under it."""
    band = np.full((18, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, INK_TEXT, 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def _row(tiles: list[np.ndarray], width: int) -> np.ndarray:
    """Tiles side by side with gaps, padded with paper to `width`."""
    height = max(t.shape[0] for t in tiles)
    parts = []
    for tile in tiles:
        parts += [np.pad(tile, ((0, height - tile.shape[0]), (0, 0), (0, 0)), constant_values=255),
                  np.full((height, GAP, 3), 255, np.uint8)]
    row = np.hstack(parts)
    return np.pad(row, ((0, GAP), (0, max(0, width - row.shape[1])), (0, 0)), constant_values=255)[:, :width]


def _text(lines: list[str], width: int, size: float = 0.5) -> np.ndarray:
    """Lines of text on paper."""
    band = np.full((22 * len(lines) + 6, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(band, line, (4, 18 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, size, INK_TEXT, 1, cv2.LINE_AA)
    return band


def sheet(body: dict) -> np.ndarray:
    """The explanation (an /api/explain answer) as a BGR picture."""
    width = 5 * (TILE + GAP) + 40
    seen = decoded(body["preview"])
    evidence = {key: np.asarray(body["evidence"][key]) for key in ("answer", "runner_up", "more_like_runner_up")}
    digit, runner = body["digit"], body["runner_up"]
    head = [f"{digit} ({body['confidence']:.1%}){' unsure' if body['unsure'] else ''}; runner-up {runner} "
            f"({body['probabilities'][runner]:.1%})"] + textwrap.wrap(body["caption"], 80)
    rows = [_text(head, width),
            _row([_label(_tile(cv2.convertScaleAbs(seen, alpha=255), TILE), "what the network saw"),
                  _label(heat(seen, evidence["answer"]), f"for / against {digit}"),
                  _label(heat(seen, evidence["runner_up"]), f"for / against {runner}"),
                  _label(heat(seen, evidence["more_like_runner_up"], MORE), f"ink here: more like {runner}")], width)]
    near = [_label(_tile(cv2.convertScaleAbs(decoded(n["png"]), alpha=255), SMALL), f"{n['label']} {n['source'][:5]}")
            for n in body["neighbours"] + body["runner_up_neighbours"]]
    if near:
        rows += [_text([f"Lookalikes (then the nearest {runner}s)"], width), _row(near, width)]
    for layer in body["layers"]:
        shape = "x".join(str(d) for d in layer["shape"])
        maps = [_tile(cv2.convertScaleAbs(decoded(m["png"]), alpha=255), SMALL) for m in layer["maps"]]
        rows += [_text([f"{layer['name']} ({shape}): strongest maps"], width, 0.45), _row(maps, width)]
    return np.vstack(rows)


def save(body: dict, path: str) -> None:
    """Write the sheet as a PNG file."""
    if not cv2.imwrite(path, sheet(body)):
        raise OSError(f"{path}: could not write the sheet")
