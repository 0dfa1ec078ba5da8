"""The MNIST procedure: framing, centre of mass, aspect, and independence from pen, size and place."""

import cv2
import numpy as np
import pytest

from app.reader import ink, preprocessing

SEVEN = [np.array([[0, 0], [60, 0], [25, 90]], float), np.array([[15, 45], [50, 45]], float)]
ONE = [np.array([[10, 0], [10, 100]], float)]
DASH = [np.array([[0, 50], [100, 50]], float)]


def centre_of_mass(image):
    m = cv2.moments(image)
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def ink_box(image, level=0.05):
    ys, xs = np.nonzero(image > level)
    return xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


@pytest.mark.parametrize("strokes", [SEVEN, ONE, DASH, [np.array([[5.0, 5.0]])]])
def test_centre_of_mass_lands_at_the_centre(strokes):
    image = preprocessing.render_strokes(strokes)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1 and image.max() > 0.5
    cx, cy = centre_of_mass(image)
    assert abs(cx - 14) < 0.5 and abs(cy - 14) < 0.5


def test_aspect_ratio_is_kept_and_the_longer_side_fills_the_box():
    tall = preprocessing.render_strokes(ONE)
    wide = preprocessing.render_strokes(DASH)
    tall_w, tall_h = ink_box(tall)
    wide_w, wide_h = ink_box(wide)
    assert 19 <= tall_h <= 22 and tall_w <= 5  # a vertical bar stays a thin vertical bar
    assert 19 <= wide_w <= 22 and wide_h <= 5
    seven_w, seven_h = ink_box(preprocessing.render_strokes(SEVEN))
    assert seven_h >= 19 and abs(seven_w / seven_h - 62 / 92) < 0.12  # 60x90 path plus the pen's width


@pytest.mark.parametrize("scale, offset", [(0.2, (0, 0)), (5.0, (900, 40)), (1.0, (250, 250)), (0.05, (3, 3))])
def test_size_and_place_do_not_matter(scale, offset):
    reference = preprocessing.render_strokes(SEVEN)
    moved = preprocessing.render_strokes([s * scale + offset for s in SEVEN])
    assert np.abs(moved - reference).max() < 0.02


def test_point_density_barely_matters():
    sparse = preprocessing.render_strokes(SEVEN)
    dense = [np.vstack([np.linspace(a, b, 20, endpoint=False) for a, b in zip(s[:-1], s[1:])] + [s[-1:]])
             for s in SEVEN]
    assert np.abs(preprocessing.render_strokes(dense) - sparse).max() < 0.05


def drawn_picture(strokes, pen, size=400, margin=60, dark_on_light=True):
    """What a person's photo of a digit looks like: the strokes drawn with a real pen width."""
    canvas = np.zeros((size, size), np.uint8)
    points = np.concatenate(strokes)
    scale = (size - 2 * margin) / np.ptp(points, axis=0).max()
    for s in strokes:
        path = ((s - points.min(axis=0)) * scale + margin).astype(np.int32)
        cv2.polylines(canvas, [path], False, 255, pen, cv2.LINE_AA)
    return 255 - canvas if dark_on_light else canvas


@pytest.mark.parametrize("pen", [3, 12, 30])
def test_thin_and_thick_pens_give_nearly_the_same_image(pen):
    reference = ink.image_to_mnist(drawn_picture(SEVEN, 8))
    image = ink.image_to_mnist(drawn_picture(SEVEN, pen))
    assert np.abs(image - reference).mean() < 0.03
    assert abs(image.sum() - reference.sum()) / reference.sum() < 0.15


def test_picture_polarity_and_uneven_lighting_do_not_matter():
    reference = ink.image_to_mnist(drawn_picture(SEVEN, 10, dark_on_light=False))
    photo = drawn_picture(SEVEN, 10).astype(np.float32)
    shade = np.linspace(0.45, 1.0, photo.shape[1])[None, :]  # a shadow across the page
    photo = np.clip(photo * shade + np.random.default_rng(0).normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    image = ink.image_to_mnist(photo)
    assert np.abs(image - reference).mean() < 0.03


def test_blank_pictures_have_no_ink():
    assert not ink.image_to_mnist(np.full((200, 300), 230, np.uint8)).any()
    noisy = np.random.default_rng(1).normal(200, 2, (120, 120)).clip(0, 255).astype(np.uint8)
    assert not ink.image_to_mnist(noisy).any()


def test_skeleton_is_traced_into_strokes_that_redraw_the_digit(mnist_small):
    digit = mnist_small["x_test"][0] / 255.0
    strokes = preprocessing.skeleton_strokes(digit > 0.3)
    assert 1 <= len(strokes) <= 12 and all(s.shape[1] == 2 for s in strokes)
    redrawn = preprocessing.render_strokes(strokes)
    original = preprocessing.frame_image(digit)
    overlap = (np.minimum(redrawn, original).sum()) / original.sum()
    assert overlap > 0.7


def test_frame_image_fits_the_box_and_centres_the_mass():
    blob = np.zeros((100, 60), np.float32)
    blob[10:90, 20:40] = 1.0
    framed = preprocessing.frame_image(blob)
    width, height = ink_box(framed, 0.5)
    assert 19 <= height <= 21 and 4 <= width <= 6
    cx, cy = centre_of_mass(framed)
    assert abs(cx - 14) < 0.5 and abs(cy - 14) < 0.5
