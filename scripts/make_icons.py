"""Draw the Teams app icons into manifest/: a thermometer glyph.

color.png   192x192, full-bleed accent background with a white thermometer
outline.png  32x32, white thermometer on a fully transparent background
Run `.venv/bin/python scripts/make_icons.py` after changing the design; the PNGs are committed.
"""

from pathlib import Path

from PIL import Image, ImageDraw

ACCENT = (214, 69, 65, 255)
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "manifest"


def thermometer(draw: ImageDraw.ImageDraw, size: int, color: tuple[int, ...]) -> None:
    s = size / 32.0
    draw.rounded_rectangle([13 * s, 3 * s, 19 * s, 22 * s], radius=3 * s, fill=color)
    draw.ellipse([10 * s, 18 * s, 22 * s, 30 * s], fill=color)
    for y in (7, 11, 15):  # scale marks
        draw.rectangle([20.5 * s, y * s, 24 * s, (y + 1) * s], fill=color)


def main() -> None:
    color = Image.new("RGBA", (192, 192), ACCENT)
    thermometer(ImageDraw.Draw(color), 192, WHITE)
    color.save(OUT / "color.png")
    outline = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    thermometer(ImageDraw.Draw(outline), 32, WHITE)
    # The outline icon must be white on transparent: no anti-aliased grey edge pixels.
    pixels = outline.load()
    for x in range(32):
        for y in range(32):
            pixels[x, y] = WHITE if pixels[x, y][3] >= 128 else (0, 0, 0, 0)
    outline.save(OUT / "outline.png")


if __name__ == "__main__":
    main()
