"""The studio's page: ``build_app(root) → gradio.Blocks``, and :func:`launch` to serve it.

Tabs Picture, Video and Zoom loop share one layout: an upload, a preset (with its description), the
objective with a layer picker, the few numbers people tune (empty until the preset fills them in: an
empty field keeps the preset's value), seed, a batch box of seeds, an advanced box of ``table.key=value``
lines, and Render / Stop / Resume; then the status line, the latest frame, the output with its download,
the resolved settings and "save as preset". Renders share one queue slot (``concurrency_id="render"``):
one at a time, others wait with their position shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from dreamvid.ui.forms import class_choices, layer_choices, preset_choices, preset_fields
from dreamvid.ui.renders import Studio, picture_handler, video_handler, zoom_handler
from dreamvid.ui.workspace import check_host, default_root, resolve_auth

MAX_UPLOAD = "500mb"
"""The largest upload the page takes."""

TITLE = "dreamvid studio"


def build_app(*, root: Path | None = None) -> gr.Blocks:
    """The studio's Blocks; every file it writes lies in a session folder under ``root``."""
    studio = Studio(Path(root) if root is not None else default_root())
    with gr.Blocks(title=TITLE, delete_cache=(3600, 2 * 24 * 3600)) as demo:  # Gradio's own upload cache
        gr.Markdown(f"# {TITLE}\nDeepDream for pictures, clips and endless zoom loops. Renders run one at a time; "
                    "Stop keeps what is done, Resume finishes it.")
        workspace = gr.BrowserState(None, storage_key="dreamvid-studio-workspace")
        demo.load(lambda token: token or secrets.token_urlsafe(24), workspace, workspace, api_visibility="private")
        with gr.Tabs():
            with gr.Tab("Picture", id="picture"):
                _picture_tab(studio, demo, workspace)
            with gr.Tab("Video", id="video"):
                _video_tab(studio, demo, workspace)
            with gr.Tab("Zoom loop", id="zoom"):
                _zoom_tab(studio, demo, workspace)
    return demo


class _Form:
    """The controls every tab has, in the order the handlers take them."""

    def __init__(self, kind: str, preset: str, numbers: list[str]) -> None:
        self.preset = gr.Dropdown(preset_choices(), value=preset, label="Preset", elem_id=f"{kind}-preset")
        with gr.Row():
            self.objective = gr.Textbox(label="Objective", placeholder="the preset's, e.g. b10, b12:7, class:banana",
                                        scale=2, elem_id=f"{kind}-objective")
            self.layer = gr.Dropdown(layer_choices(), value=None, label="Layer picker", scale=1, elem_id=f"{kind}-layer")
            self.category = gr.Dropdown(class_choices(), value=None, label="Class picker", scale=1,
                                        elem_id=f"{kind}-class")
        with gr.Row():
            self.seed = gr.Number(value=None, label="Seed", precision=0)
            self.numbers = {name: gr.Number(value=None, label=_LABELS[name]) for name in numbers}
        # the pickers write the objective and empty themselves, so the objective field is the one truth
        self.layer.change(lambda layer: (layer, None) if layer else (gr.skip(), gr.skip()), self.layer,
                          [self.objective, self.layer], api_visibility="private")
        self.category.change(lambda name: (f"class:{name}", None) if name else (gr.skip(), gr.skip()),
                             self.category, [self.objective, self.category], api_visibility="private")

    def fill(self, demo: gr.Blocks) -> None:
        """Fill the fields from the preset on page load and whenever the preset changes."""
        names = ["objective", *self.numbers]
        outputs = [self.objective, *self.numbers.values()]

        def values(preset: str) -> list[object]:
            found = preset_fields(preset, names) if preset else {}
            return [found.get(name) for name in names]

        self.preset.change(values, self.preset, outputs, api_visibility="private")
        demo.load(values, self.preset, outputs, api_visibility="private")


_LABELS = {"steps": "Steps per octave", "step_size": "Step size", "octaves": "Octaves", "carry": "Carry (0-1)",
           "zoom": "Zoom per second", "rotate": "Rotate °/s"}


def _extras(kind: str, *, music: bool) -> dict[str, gr.components.Component]:
    """Soundtrack and reactions (``music``), 360°, stereo, advanced and batch boxes."""
    found: dict[str, gr.components.Component] = {}
    with gr.Accordion(("Music, " if music else "") + "360°, batch and advanced", open=False, elem_id=f"{kind}-more"):
        if music:
            with gr.Row():
                found["soundtrack"] = gr.File(label="Soundtrack (drives audio reactions; the output's sound)",
                                              file_types=["audio", "video"])
                found["reactions"] = gr.Textbox(label="Audio reactions, one a line", lines=3,
                                                placeholder="zoom *= 1 + 0.3 * low\nstep_size += 0.006 * onset")
        with gr.Row():
            found["vr360"] = gr.Checkbox(label="360° panorama (equirect)", value=False)
            if music:
                found["stereo"] = gr.Dropdown([("the preset's", ""), "mono", "top-bottom", "left-right"],
                                              value="", label="Stereo layout")
        found["advanced"] = gr.Textbox(label="Advanced: table.key=value lines (as --set)", lines=3,
                                       placeholder="dream.jitter=16\nrun.threads=2", elem_id=f"{kind}-advanced")
        found["batch"] = gr.Textbox(label="Batch: seeds to render one after another", placeholder="1, 2, 5-7",
                                    elem_id=f"{kind}-batch")
    return found


class _Outputs:
    def __init__(self, kind: str, *, video: bool) -> None:
        with gr.Row():
            self.render = gr.Button("Render", variant="primary", elem_id=f"{kind}-render")
            self.stop = gr.Button("Stop", elem_id=f"{kind}-stop")
            self.resume = gr.Button("Resume", visible=video, elem_id=f"{kind}-resume")
        self.status = gr.Textbox(label="Progress", interactive=False, elem_id=f"{kind}-status")
        with gr.Row():
            self.preview = gr.Image(label="Latest frame", interactive=False, format="png", elem_id=f"{kind}-preview")
            self.result = (gr.Video(label="Output", interactive=False, elem_id=f"{kind}-result") if video else
                           gr.Image(label="Output", type="filepath", format="png", interactive=False,
                                    elem_id=f"{kind}-result"))
        self.download = gr.File(label="Download", interactive=False)
        self.batch = gr.File(label="Batch results", file_count="multiple", interactive=False)
        self.settings = gr.JSON(label="Resolved settings")
        with gr.Row():
            self.save = gr.Button("Save as preset")
            self.preset_file = gr.File(label="Preset (use with --preset FILE.toml)", interactive=False)

    def all(self) -> list[gr.components.Component]:
        return [self.status, self.preview, self.result, self.download, self.settings, self.batch]


def _wire(studio: Studio, demo: gr.Blocks, workspace: gr.BrowserState, form: _Form, out: _Outputs,
          handler: Callable, inputs: list, api_name: str, *, resumable: bool) -> None:
    """Connect Render (and Resume), Stop and Save as preset."""
    resume = gr.Checkbox(value=False, visible=False, label="Resume")
    run = dict(outputs=out.all(), concurrency_id="render", concurrency_limit=1)
    event = out.render.click(handler, [*inputs, *([resume] if resumable else []), workspace], api_name=api_name, **run)
    if resumable:
        out.resume.click(handler, [*inputs, gr.State(True), workspace], api_visibility="private", **run)
        out.stop.click(studio.stop, workspace, out.status, api_name=f"stop_{api_name.removeprefix('render_')}",
                       concurrency_limit=None, concurrency_id="control")
    else:  # a picture has no checkpoint: Stop cancels it
        out.stop.click(None, None, None, cancels=[event], api_visibility="private")
    out.save.click(studio.save_preset, [out.settings, workspace], out.preset_file, api_visibility="private",
                   concurrency_limit=None, concurrency_id="control")
    form.fill(demo)


def _picture_tab(studio: Studio, demo: gr.Blocks, workspace: gr.BrowserState) -> None:
    with gr.Row():
        with gr.Column():
            picture = gr.Image(label="Photo (leave empty to dream from noise)", type="filepath",
                               sources=["upload", "clipboard"], elem_id="picture-input")
            form = _Form("picture", "classic", ["steps", "step_size", "octaves"])
            noise = gr.Textbox(label="Noise size (without a photo)", value="512x512")
            extras = _extras("picture", music=False)
        with gr.Column():
            out = _Outputs("picture", video=False)
    inputs = [picture, form.preset, form.objective, form.seed, *form.numbers.values(), noise, extras["vr360"],
              extras["advanced"], extras["batch"]]
    _wire(studio, demo, workspace, form, out, picture_handler(studio), inputs, "dream_image", resumable=False)


def _video_tab(studio: Studio, demo: gr.Blocks, workspace: gr.BrowserState) -> None:
    with gr.Row():
        with gr.Column():
            video = gr.File(label="Clip (MP4, MOV, MKV, WebM, GIF ...)", file_types=["video", ".gif"],
                            elem_id="video-input")
            form = _Form("video", "video", ["steps", "step_size", "octaves", "carry"])
            with gr.Row():
                frames = gr.Number(value=None, label="Frames (empty: the whole clip)", precision=0)
                width = gr.Number(value=None, label="Width (empty: the clip's)", precision=0)
            extras = _extras("video", music=True)
        with gr.Column():
            out = _Outputs("video", video=True)
    inputs = [video, form.preset, form.objective, form.seed, *form.numbers.values(), frames, width,
              extras["soundtrack"], extras["reactions"], extras["vr360"], extras["stereo"], extras["advanced"],
              extras["batch"]]
    _wire(studio, demo, workspace, form, out, video_handler(studio), inputs, "render_video", resumable=True)


def _zoom_tab(studio: Studio, demo: gr.Blocks, workspace: gr.BrowserState) -> None:
    with gr.Row():
        with gr.Column():
            picture = gr.Image(label="Start picture (leave empty to start from noise)", type="filepath",
                               sources=["upload", "clipboard"], elem_id="zoom-input")
            form = _Form("zoom", "endless-zoom", ["steps", "step_size", "octaves", "zoom", "rotate"])
            with gr.Row():
                frames = gr.Number(value=120, label="Frames (empty: the soundtrack's length)", precision=0)
                fps = gr.Textbox(value="30", label="Frames per second")
                size = gr.Textbox(value="", label="Size WxH (empty: the picture's, or 512x512)")
                loop = gr.Number(value=0, label="Loop crossfade (s)")
            extras = _extras("zoom", music=True)
        with gr.Column():
            out = _Outputs("zoom", video=True)
    inputs = [picture, form.preset, form.objective, form.seed, *form.numbers.values(), frames, fps, size, loop,
              extras["soundtrack"], extras["reactions"], extras["vr360"], extras["stereo"], extras["advanced"],
              extras["batch"]]
    _wire(studio, demo, workspace, form, out, zoom_handler(studio), inputs, "render_zoom", resumable=True)


def launch(*, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, auth_file: Path | None = None,
           root: Path | None = None, announce: Callable[[str], None] = print,
           block: bool = True) -> tuple[gr.Blocks, str]:
    """Build the studio and serve it on ``host:port``; ``(app, address)``. With ``block`` it serves until
    interrupted; otherwise it returns at once (close it with ``app.close()``).

    Raises:
        ConfigError: a host other than loopback without a password, or a malformed password.
    """
    credentials = resolve_auth(auth, auth_file)
    check_host(host, credentials)
    root = Path(root) if root is not None else default_root()
    demo = build_app(root=root)
    demo.queue(default_concurrency_limit=1)
    _, address, _ = demo.launch(server_name=host, server_port=port, auth=credentials, prevent_thread_lock=True,
                                max_file_size=MAX_UPLOAD, allowed_paths=[str(root)], quiet=True,
                                footer_links=["api"])
    announce(f"dreamvid studio at {address} (Ctrl-C to stop)")
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return demo, address
