"""The plain Keras server bench/latency.py compares against: how hobby digit apps serve.

It draws the strokes on a canvas-sized image, resizes the whole canvas to 28x28 (no crop, no
centring) and calls Keras `model.predict` once per request. The model is loaded once, which is
already kinder than the apps that reload it per request.
"""

import argparse

import cv2
import numpy as np
from flask import Flask, jsonify, request


def make_app(model_path: str) -> Flask:
    """A minimal Flask app with the seed projects' prediction handler."""
    import keras

    model = keras.saving.load_model(model_path, compile=False)
    app = Flask(__name__)

    @app.post("/api/predict")
    def predict():
        body = request.get_json()
        canvas = np.zeros((int(body["height"]), int(body["width"])), np.uint8)
        for stroke in body["strokes"]:
            cv2.polylines(canvas, [np.array(stroke, np.int32)], False, 255, 16)
        image = cv2.resize(canvas, (28, 28)).astype("float32") / 255
        probabilities = model.predict(image.reshape(1, 28, 28, 1), verbose=0)[0]
        return jsonify(digit=int(probabilities.argmax()), probabilities=probabilities.tolist())

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/digit_cnn.keras", help="Keras model file")
    parser.add_argument("--port", type=int, default=5001, help="port on 127.0.0.1")
    args = parser.parse_args()
    make_app(args.model).run(host="127.0.0.1", port=args.port, threaded=True)
