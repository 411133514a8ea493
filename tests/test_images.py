"""Tests for dreamvid.images: still-image I/O, tensor conversions, size parsing, contact sheets.

All fixtures are generated in ``tmp_path``; PIL (a scikit-image dependency) is used as an independent
encoder/decoder so that a consistent RGB/BGR swap on both the read and the write side cannot go unseen.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dreamvid import images
from dreamvid.arrays import to_uint8
from dreamvid.errors import ConfigError, InputError, OutputError
from dreamvid.images import (
    IMAGE_EXTENSIONS,
    check_output_path,
    contact_sheet,
    parse_size,
    read_image,
    to_image,
    to_tensor,
    write_image,
)

PIL_Image = pytest.importorskip("PIL.Image", reason="PIL is needed as an independent image codec")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_REASON = "running as root: file permissions do not bind (covered by the simulated-permission tests)"

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
MAGIC = {".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".webp": b"RIFF"}


def solid(height: int, width: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def noise(height: int = 5, width: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_one_line(exc_info: pytest.ExceptionInfo[BaseException]) -> None:
    assert "\n" not in str(exc_info.value)


# ------------------------------------------------------------------------------------ reading & writing


class TestRoundTrip:
    def test_png_is_exact(self, tmp_path: Path) -> None:
        image = noise()
        write_image(tmp_path / "x.png", image)
        back = read_image(tmp_path / "x.png")
        assert back.dtype == np.uint8 and back.shape == (5, 7, 3)
        np.testing.assert_array_equal(back, image)

    @pytest.mark.parametrize("extension", [".jpg", ".jpeg", ".webp"])
    def test_lossy_formats_are_close(self, tmp_path: Path, extension: str) -> None:
        photo = skimage_data.chelsea()
        write_image(tmp_path / f"cat{extension}", photo)
        back = read_image(tmp_path / f"cat{extension}")
        assert back.shape == photo.shape
        assert np.abs(back.astype(int) - photo.astype(int)).mean() < 3.0

    @pytest.mark.parametrize("name", ["a.PNG", "b.JpG", "c.JPEG", "d.WebP"])
    def test_extension_is_case_insensitive_and_picks_the_format(self, tmp_path: Path, name: str) -> None:
        write_image(tmp_path / name, solid(4, 4, GREEN))
        data = (tmp_path / name).read_bytes()
        assert data.startswith(MAGIC[Path(name).suffix.lower()])
        assert read_image(tmp_path / name)[0, 0, 1] > 240

    def test_quality_is_passed_to_the_encoder(self, tmp_path: Path) -> None:
        photo = skimage_data.chelsea()
        write_image(tmp_path / "low.jpg", photo, quality=10)
        write_image(tmp_path / "high.jpg", photo, quality=95)
        assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size / 2

    def test_non_ascii_file_name(self, tmp_path: Path) -> None:
        path = tmp_path / "ünïcødé 猫.png"
        write_image(path, noise(seed=3))
        assert path.exists()
        np.testing.assert_array_equal(read_image(path), noise(seed=3))

    def test_overwrites_an_existing_file(self, tmp_path: Path) -> None:
        write_image(tmp_path / "x.png", solid(2, 2, RED))
        write_image(tmp_path / "x.png", solid(3, 3, BLUE))
        np.testing.assert_array_equal(read_image(tmp_path / "x.png"), solid(3, 3, BLUE))
        assert listing(tmp_path) == ["x.png"]

    def test_write_does_not_modify_the_image(self, tmp_path: Path) -> None:
        image = noise()
        before = image.copy()
        write_image(tmp_path / "x.jpg", image)
        np.testing.assert_array_equal(image, before)

    def test_accepts_non_contiguous_arrays(self, tmp_path: Path) -> None:
        image = noise(6, 8)[:, ::-1]
        write_image(tmp_path / "x.png", image)
        np.testing.assert_array_equal(read_image(tmp_path / "x.png"), image)

    @pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
    def test_new_file_gets_umask_permissions_not_tempfile_0600(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            write_image(tmp_path / "x.png", solid(2, 2, RED))
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o644


class TestColourOrder:
    """Checked against PIL, so a swap on both sides (which round-trips fine) would still fail."""

    @pytest.mark.parametrize("extension", [".png", ".jpg", ".webp"])
    def test_written_red_is_red_for_another_decoder(self, tmp_path: Path, extension: str) -> None:
        write_image(tmp_path / f"red{extension}", solid(8, 8, RED))
        with PIL_Image.open(tmp_path / f"red{extension}") as decoded:
            r, g, b = np.asarray(decoded.convert("RGB"))[4, 4]
        assert r > 240 and g < 15 and b < 15

    def test_red_from_another_encoder_reads_as_red(self, tmp_path: Path) -> None:
        PIL_Image.new("RGB", (5, 4), RED).save(tmp_path / "red.png")
        image = read_image(tmp_path / "red.png")
        assert image.shape == (4, 5, 3)
        assert image[0, 0].tolist() == [255, 0, 0]

    def test_round_trip_keeps_channel_zero_red(self, tmp_path: Path) -> None:
        write_image(tmp_path / "red.png", solid(3, 3, RED))
        image = read_image(tmp_path / "red.png")
        assert (image[..., 0] == 255).all() and (image[..., 1:] == 0).all()


class TestReadConversions:
    def test_grayscale_png_becomes_three_equal_channels(self, tmp_path: Path) -> None:
        gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
        assert cv2.imwrite(str(tmp_path / "g.png"), gray)
        image = read_image(tmp_path / "g.png")
        assert image.shape == (3, 4, 3)
        for channel in range(3):
            np.testing.assert_array_equal(image[..., channel], gray)

    def test_rgba_png_drops_alpha_and_keeps_colour(self, tmp_path: Path) -> None:
        PIL_Image.new("RGBA", (3, 2), (10, 20, 30, 128)).save(tmp_path / "a.png")
        image = read_image(tmp_path / "a.png")
        assert image.shape == (2, 3, 3)
        assert image[1, 2].tolist() == [10, 20, 30]

    def test_gray_alpha_png(self, tmp_path: Path) -> None:
        PIL_Image.new("LA", (3, 2), (77, 10)).save(tmp_path / "la.png")
        assert read_image(tmp_path / "la.png")[0, 0].tolist() == [77, 77, 77]

    def test_16_bit_gray_png_is_scaled_with_rounding(self, tmp_path: Path) -> None:
        values = np.array([[0, 128, 129, 257, 32896, 65535]], np.uint16)
        assert cv2.imwrite(str(tmp_path / "g16.png"), values)
        image = read_image(tmp_path / "g16.png")
        assert image.dtype == np.uint8
        assert image[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255]

    def test_16_bit_colour_png_keeps_rgb_order(self, tmp_path: Path) -> None:
        bgr = np.zeros((2, 2, 3), np.uint16)
        bgr[..., 2] = 65535  # red, in OpenCV's order
        bgr[..., 1] = 32896
        assert cv2.imwrite(str(tmp_path / "c16.png"), bgr)
        assert read_image(tmp_path / "c16.png")[0, 0].tolist() == [255, 128, 0]

    def test_palette_png(self, tmp_path: Path) -> None:
        palette = PIL_Image.new("P", (4, 2))
        palette.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 - 3) * 3)
        palette.putdata([0, 1, 2, 0, 2, 2, 1, 0])
        palette.save(tmp_path / "p.png")
        image = read_image(tmp_path / "p.png")
        assert image[0].tolist() == [list(RED), list(GREEN), list(BLUE), list(RED)]
        assert image[1].tolist() == [list(BLUE), list(BLUE), list(GREEN), list(RED)]

    def test_exif_orientation_is_applied(self, tmp_path: Path) -> None:
        exif = PIL_Image.Exif()
        exif[0x0112] = 6  # "rotate 90 CW to display"
        PIL_Image.new("RGB", (40, 20), RED).save(tmp_path / "phone.jpg", exif=exif)
        assert read_image(tmp_path / "phone.jpg").shape == (40, 20, 3)

    def test_float_tiff_is_clipped_and_scaled(self, tmp_path: Path) -> None:
        bgr = np.zeros((2, 2, 3), np.float32)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = -0.5, 0.5, 1.5  # blue, green, red
        assert cv2.imwrite(str(tmp_path / "f.tif"), bgr)
        assert read_image(tmp_path / "f.tif")[0, 0].tolist() == [255, 128, 0]

    def test_bmp_is_readable(self, tmp_path: Path) -> None:
        PIL_Image.new("RGB", (3, 3), BLUE).save(tmp_path / "b.bmp")
        assert read_image(tmp_path / "b.bmp")[1, 1].tolist() == list(BLUE)

    def test_returns_a_writable_contiguous_array(self, tmp_path: Path) -> None:
        cv2.imwrite(str(tmp_path / "g.png"), np.zeros((3, 3), np.uint8))
        image = read_image(str(tmp_path / "g.png"))
        assert image.flags.c_contiguous and image.flags.writeable


class TestReadErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="input file not found: .*nope.png") as info:
            read_image(tmp_path / "nope.png")
        assert_one_line(info)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="is a directory"):
            read_image(tmp_path)

    def test_zero_byte_file(self, tmp_path: Path) -> None:
        (tmp_path / "empty.png").write_bytes(b"")
        with pytest.raises(InputError, match=r"empty \(0 bytes\)"):
            read_image(tmp_path / "empty.png")

    def test_text_file_named_png(self, tmp_path: Path) -> None:
        (tmp_path / "notes.png").write_text("not an image\n")
        with pytest.raises(InputError, match=r"cannot read .*notes.png as an image .*check the file") as info:
            read_image(tmp_path / "notes.png")
        assert_one_line(info)

    def test_truncated_png(self, tmp_path: Path) -> None:
        data = cv2.imencode(".png", skimage_data.chelsea())[1].tobytes()
        (tmp_path / "cut.png").write_bytes(data[:64])
        with pytest.raises(InputError, match="as an image"):
            read_image(tmp_path / "cut.png")

    @pytest.mark.skipif(IS_ROOT or os.name != "posix", reason=ROOT_REASON)
    def test_unreadable_file(self, tmp_path: Path) -> None:
        write_image(tmp_path / "x.png", solid(2, 2, RED))
        (tmp_path / "x.png").chmod(0)
        try:
            with pytest.raises(InputError, match="permission denied"):
                read_image(tmp_path / "x.png")
        finally:
            (tmp_path / "x.png").chmod(0o644)

    def test_unreadable_file_simulated(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        write_image(tmp_path / "x.png", solid(2, 2, RED))

        def denied(*args: object, **kwargs: object) -> np.ndarray:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(images.np, "fromfile", denied)
        with pytest.raises(InputError, match="cannot read .*x.png: permission denied"):
            read_image(tmp_path / "x.png")


class TestWriteErrors:
    def test_unknown_extension_lists_supported_and_writes_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match=r"'\.gif'.*\.jpeg, \.jpg, \.png, \.webp") as info:
            write_image(tmp_path / "x.gif", solid(2, 2, RED))
        assert_one_line(info)
        assert listing(tmp_path) == []

    def test_no_extension(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="no extension"):
            write_image(tmp_path / "x", solid(2, 2, RED))
        assert listing(tmp_path) == []

    def test_missing_output_directory(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="output directory does not exist: .*missing; create it first"):
            write_image(tmp_path / "missing" / "x.png", solid(2, 2, RED))
        assert listing(tmp_path) == []

    def test_parent_is_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="not a directory"):
            write_image(tmp_path / "file" / "x.png", solid(2, 2, RED))
        assert (tmp_path / "file").read_text() == "x"

    def test_target_is_a_directory(self, tmp_path: Path) -> None:
        (tmp_path / "d.png").mkdir()
        with pytest.raises(OutputError, match="is a directory"):
            write_image(tmp_path / "d.png", solid(2, 2, RED))
        assert listing(tmp_path / "d.png") == [] and listing(tmp_path) == ["d.png"]

    @pytest.mark.skipif(IS_ROOT or os.name != "posix", reason=ROOT_REASON)
    def test_read_only_directory(self, tmp_path: Path) -> None:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            with pytest.raises(OutputError, match="cannot write to .*ro: permission denied"):
                write_image(folder / "x.png", solid(2, 2, RED))
            assert listing(folder) == []
        finally:
            folder.chmod(0o755)

    def test_read_only_directory_simulated(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open = os.open

        def deny_part_files(path: object, *args: object, **kwargs: object) -> int:
            if str(path).endswith(".part"):
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", deny_part_files)
        with pytest.raises(OutputError, match="cannot write to .*: permission denied"):
            write_image(tmp_path / "x.png", solid(2, 2, RED))
        assert listing(tmp_path) == []

    @pytest.mark.parametrize(
        "bad",
        [
            np.zeros((2, 2, 3), np.float32),
            np.zeros((2, 2), np.uint8),
            np.zeros((2, 2, 4), np.uint8),
            np.zeros((0, 2, 3), np.uint8),
        ],
        ids=["float", "2d", "rgba", "empty"],
    )
    def test_invalid_array_leaves_existing_target_untouched(self, tmp_path: Path, bad: np.ndarray) -> None:
        write_image(tmp_path / "x.png", solid(2, 2, RED))
        before = (tmp_path / "x.png").read_bytes()
        with pytest.raises(ValueError, match="expected image of"):
            write_image(tmp_path / "x.png", bad)
        assert (tmp_path / "x.png").read_bytes() == before
        assert listing(tmp_path) == ["x.png"]

    def test_not_an_array(self, tmp_path: Path) -> None:
        with pytest.raises(TypeError, match="numpy array"):
            write_image(tmp_path / "x.png", [[[0, 0, 0]]])  # type: ignore[arg-type]
        assert listing(tmp_path) == []

    @pytest.mark.parametrize("quality", [0, 101, 50.0, True])
    def test_bad_quality(self, tmp_path: Path, quality: object) -> None:
        with pytest.raises(ConfigError, match="quality from 1 to 100"):
            write_image(tmp_path / "x.jpg", solid(2, 2, RED), quality=quality)  # type: ignore[arg-type]
        assert listing(tmp_path) == []

    def test_failed_rename_removes_part_file_and_keeps_target(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write_image(tmp_path / "x.png", solid(2, 2, RED))
        before = (tmp_path / "x.png").read_bytes()

        def broken_replace(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OutputError, match="cannot write .*x.png: Input/output error"):
            write_image(tmp_path / "x.png", solid(2, 2, BLUE))
        assert (tmp_path / "x.png").read_bytes() == before
        assert listing(tmp_path) == ["x.png"]

    def test_disk_full_removes_part_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(OutputError, match="No space left on device"):
            write_image(tmp_path / "x.png", solid(2, 2, RED))
        assert listing(tmp_path) == []

    def test_interrupt_removes_part_file_and_propagates(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            write_image(tmp_path / "x.png", solid(2, 2, RED))
        assert listing(tmp_path) == []


class TestCheckOutputPath:
    def test_valid_path_is_returned_and_nothing_is_created(self, tmp_path: Path) -> None:
        result = check_output_path(str(tmp_path / "out.JPG"))
        assert result == tmp_path / "out.JPG" and isinstance(result, Path)
        assert listing(tmp_path) == []

    def test_default_extensions_are_the_writable_ones(self) -> None:
        assert IMAGE_EXTENSIONS == frozenset({".jpg", ".jpeg", ".png", ".webp"})

    def test_custom_extensions(self, tmp_path: Path) -> None:
        assert check_output_path(tmp_path / "v.MP4", extensions={".mp4"}).name == "v.MP4"
        with pytest.raises(OutputError, match=r"use one of \.mp4"):
            check_output_path(tmp_path / "v.png", extensions={".mp4"})

    def test_unknown_extension(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="unknown output format '.bmp'"):
            check_output_path(tmp_path / "x.bmp")

    def test_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="output directory does not exist"):
            check_output_path(tmp_path / "a" / "b" / "x.png")

    def test_parent_is_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="not a directory"):
            check_output_path(tmp_path / "file" / "x.png")

    def test_target_is_a_directory(self, tmp_path: Path) -> None:
        (tmp_path / "d.png").mkdir()
        with pytest.raises(OutputError, match="is a directory"):
            check_output_path(tmp_path / "d.png")

    @pytest.mark.skipif(IS_ROOT or os.name != "posix", reason=ROOT_REASON)
    def test_read_only_directory(self, tmp_path: Path) -> None:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        try:
            with pytest.raises(OutputError, match="permission denied"):
                check_output_path(tmp_path / "ro" / "x.png")
        finally:
            (tmp_path / "ro").chmod(0o755)

    def test_unwritable_directory_simulated(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "access", lambda path, mode: False)
        with pytest.raises(OutputError, match=f"cannot write to {tmp_path}: permission denied"):
            check_output_path(tmp_path / "x.png")

    def test_same_as_input(self, tmp_path: Path) -> None:
        write_image(tmp_path / "in.png", solid(2, 2, RED))
        with pytest.raises(OutputError, match="output path .*in.png is the same as the input; choose"):
            check_output_path(tmp_path / "in.png", inputs=[tmp_path / "other.png", tmp_path / "in.png"])

    def test_same_as_input_spelled_differently(self, tmp_path: Path) -> None:
        (tmp_path / "sub").mkdir()
        write_image(tmp_path / "in.png", solid(2, 2, RED))
        with pytest.raises(OutputError, match="same as the input"):
            check_output_path(tmp_path / "sub" / ".." / "in.png", inputs=[str(tmp_path / "in.png")])

    @pytest.mark.parametrize("link", ["symlink", "hardlink"])
    def test_same_as_input_through_a_link(self, tmp_path: Path, link: str) -> None:
        write_image(tmp_path / "in.png", solid(2, 2, RED))
        try:
            if link == "symlink":
                (tmp_path / "alias.png").symlink_to(tmp_path / "in.png")
            else:
                os.link(tmp_path / "in.png", tmp_path / "alias.png")
        except (OSError, NotImplementedError) as exc:
            pytest.skip(f"cannot create a {link} here: {exc}")
        with pytest.raises(OutputError, match="same as the input"):
            check_output_path(tmp_path / "alias.png", inputs=[tmp_path / "in.png"])

    def test_different_file_is_fine(self, tmp_path: Path) -> None:
        write_image(tmp_path / "in.png", solid(2, 2, RED))
        assert check_output_path(tmp_path / "out.png", inputs=[tmp_path / "in.png"]) == tmp_path / "out.png"


# ------------------------------------------------------------------------------------------ conversions


class TestToTensor:
    IMAGE = np.array(
        [[[0, 1, 2], [51, 102, 153], [255, 254, 253]], [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], np.uint8
    )  # (H=2, W=3, 3)

    def test_shape_dtype_layout(self) -> None:
        tensor = to_tensor(self.IMAGE)
        assert tensor.shape == (1, 3, 2, 3)
        assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
        assert tensor.is_contiguous()

    def test_exact_values(self) -> None:
        tensor = to_tensor(self.IMAGE)
        red = torch.tensor([[0, 51, 255], [10, 40, 70]], dtype=torch.float32) / 255
        blue = torch.tensor([[2, 153, 253], [30, 60, 90]], dtype=torch.float32) / 255
        assert torch.equal(tensor[0, 0], red)
        assert torch.equal(tensor[0, 2], blue)
        assert tensor[0, 0, 0, 0].item() == 0.0 and tensor[0, 0, 0, 2].item() == 1.0
        assert tensor[0, 1, 0, 1].item() == pytest.approx(0.4)

    def test_round_trip_is_exact_for_every_value(self) -> None:
        image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
        np.testing.assert_array_equal(to_image(to_tensor(image)), image)

    def test_input_is_not_modified_and_not_shared(self) -> None:
        image = self.IMAGE.copy()
        tensor = to_tensor(image)
        tensor.mul_(0)
        np.testing.assert_array_equal(image, self.IMAGE)

    def test_read_only_array_without_warnings(self) -> None:
        image = self.IMAGE.copy()
        image.flags.writeable = False
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tensor = to_tensor(image)
        assert tensor[0, 0, 1, 2].item() == pytest.approx(70 / 255)

    def test_non_contiguous_array(self) -> None:
        flipped = self.IMAGE[:, ::-1]
        assert to_tensor(flipped)[0, 0, 0].tolist() == pytest.approx([1.0, 0.2, 0.0])

    @pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
    def test_device_argument(self, device: str | torch.device) -> None:
        assert to_tensor(self.IMAGE, device=device).device.type == "cpu"

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    def test_cuda_device(self) -> None:
        tensor = to_tensor(self.IMAGE, device="cuda")
        assert tensor.is_cuda
        np.testing.assert_array_equal(to_image(tensor), self.IMAGE)

    @pytest.mark.parametrize(
        "bad, error",
        [
            (np.zeros((2, 3, 3), np.float32), ValueError),
            (np.zeros((2, 3), np.uint8), ValueError),
            (np.zeros((3, 2, 3, 1), np.uint8), ValueError),
            (np.zeros((2, 3, 4), np.uint8), ValueError),
            ([[[0, 0, 0]]], TypeError),
        ],
    )
    def test_rejects_bad_input(self, bad: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="expected"):
            to_tensor(bad)  # type: ignore[arg-type]


class TestToImage:
    def test_shape_dtype_and_channel_order(self) -> None:
        tensor = torch.zeros(1, 3, 2, 3)
        tensor[0, 0] = 1.0  # red
        image = to_image(tensor)
        assert image.shape == (2, 3, 3) and image.dtype == np.uint8
        assert image[1, 2].tolist() == [255, 0, 0]

    def test_accepts_unbatched(self) -> None:
        assert to_image(torch.full((3, 2, 5), 0.2)).tolist() == [[[51, 51, 51]] * 5] * 2

    def test_rounds_instead_of_truncating(self) -> None:
        eps = 1e-3
        values = torch.tensor([0.5 - eps, 0.5 + eps, 0.999, 254.5 - eps, 254.5 + eps]) / 255
        image = to_image(values.view(1, 1, 5).expand(3, 1, 5))
        assert image[0, :, 0].tolist() == [0, 1, 1, 254, 255]

    def test_rounds_half_up_as_the_video_path(self) -> None:
        """Every half level (255·x = k + ½ exactly in float32) goes up, as ``arrays.to_uint8`` rounds video frames."""
        values = (torch.arange(256, dtype=torch.float32) + 0.5) / 255
        assert ((values * 255).numpy() == np.arange(256) + 0.5).all()  # the halves are exact
        image = to_image(values.view(1, 1, 256).expand(3, 1, 256))
        assert image[0, :, 0].tolist() == [*range(1, 256), 255]
        assert image[0, :, 0].tolist() == to_uint8(values.numpy()).tolist()

    def test_clamps_and_zeroes_nan(self) -> None:
        values = torch.tensor([-0.5, 1.5, float("nan"), float("inf"), float("-inf")])
        image = to_image(values.view(1, 1, 5).expand(3, 1, 5))
        assert image[0, :, 0].tolist() == [0, 255, 0, 255, 0]

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
    def test_any_float_dtype(self, dtype: torch.dtype) -> None:
        tensor = torch.tensor([0.0, 0.2, 1.0], dtype=dtype).view(1, 3, 1, 1)
        assert to_image(tensor)[0, 0].tolist() == [0, 51, 255]

    def test_input_is_not_modified(self) -> None:
        tensor = torch.tensor([-0.25, 0.5, 1.75], requires_grad=True).view(1, 3, 1, 1)
        before = tensor.detach().clone()
        version = tensor._version
        image = to_image(tensor)
        assert tensor._version == version
        assert torch.equal(tensor.detach(), before)
        assert image[0, 0].tolist() == [0, 128, 255]

    def test_result_does_not_share_memory_with_input(self) -> None:
        tensor = torch.full((1, 3, 2, 2), 0.5)
        image = to_image(tensor)
        image[:] = 0
        assert torch.all(tensor == 0.5)

    @pytest.mark.parametrize(
        "bad, error",
        [
            (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), TypeError),
            (np.zeros((1, 3, 2, 2), np.float32), TypeError),
            (torch.zeros(1, 1, 2, 2), ValueError),
            (torch.zeros(2, 3, 2, 2), ValueError),
            (torch.zeros(2, 2, 3), ValueError),
            (torch.zeros(3, 2), ValueError),
        ],
    )
    def test_rejects_bad_input(self, bad: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="expected"):
            to_image(bad)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- utilities


class TestParseSize:
    @pytest.mark.parametrize(
        "text, expected",
        [
            ("640x360", (640, 360)),
            ("640X360", (640, 360)),
            ("640*360", (640, 360)),
            (" 1920 x 1080 ", (1920, 1080)),
            ("1x1", (1, 1)),
            ("16384x16384", (16384, 16384)),
            ("0640x0360", (640, 360)),
        ],
    )
    def test_good(self, text: str, expected: tuple[int, int]) -> None:
        assert parse_size(text) == expected

    @pytest.mark.parametrize(
        "text", ["abc", "", "640", "640x", "x360", "-640x360", "640x360x2", "6.5x3", "640,360", "٦٤٠x360"]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(ConfigError, match=f"expected a size like 640x360, got {text!r}"):
            parse_size(text)

    @pytest.mark.parametrize("text", ["0x360", "640x0", "16385x100", "100x99999"])
    def test_out_of_range(self, text: str) -> None:
        with pytest.raises(ConfigError, match="from 1 to 16384"):
            parse_size(text)

    def test_not_a_string(self) -> None:
        with pytest.raises(ConfigError, match="expected a size like 640x360"):
            parse_size(640)  # type: ignore[arg-type]


class TestContactSheet:
    GAP = 4

    def test_shape_and_cell_contents(self) -> None:
        frames = [solid(90, 160, RED), solid(90, 160, GREEN), solid(90, 160, BLUE)]
        sheet = contact_sheet(frames, columns=2, width=332)
        assert sheet.shape == (192, 332, 3) and sheet.dtype == np.uint8
        g = self.GAP
        first = sheet[g:g + 90, g:g + 160]
        second = sheet[g:g + 90, 2 * g + 160:2 * g + 320]
        third = sheet[2 * g + 90:2 * g + 180, g:g + 160]
        assert first.reshape(-1, 3).mean(axis=0).tolist() == [255, 0, 0]
        assert second.reshape(-1, 3).mean(axis=0).tolist() == [0, 255, 0]
        assert third.reshape(-1, 3).mean(axis=0).tolist() == [0, 0, 255]
        assert sheet[0, 0].tolist() != [255, 0, 0]  # the gap is background, not image

    def test_cells_keep_aspect_ratio(self) -> None:
        sheet = contact_sheet([solid(100, 50, RED), solid(10, 100, BLUE)], columns=2, width=212)
        # cells are 100 wide: the 50x100 (w x h) image becomes 100x200, the row is as tall as its tallest cell
        assert sheet.shape == (200 + 2 * self.GAP, 212, 3)
        assert sheet[self.GAP + 199, self.GAP + 50].tolist() == [255, 0, 0]
        assert sheet[self.GAP + 9, 2 * self.GAP + 150].tolist() == [0, 0, 255]
        assert sheet[self.GAP + 10, 2 * self.GAP + 150].tolist() == [24, 24, 24]  # background below it

    def test_real_photo_is_shrunk(self) -> None:
        photo = skimage_data.chelsea()  # 300 x 451
        sheet = contact_sheet([photo], columns=4, width=459)  # one image: one column, cell 451 -> no resize
        assert sheet.shape == (308, 459, 3)
        np.testing.assert_array_equal(sheet[4:304, 4:455], photo)
        small = contact_sheet([photo, photo], columns=2, width=240)
        cell = small[4:4 + 300 * 114 // 451, 4:118]
        assert np.abs(cell.reshape(-1, 3).mean(axis=0) - photo.reshape(-1, 3).mean(axis=0)).max() < 3

    def test_fewer_images_than_columns_use_the_full_width(self) -> None:
        sheet = contact_sheet([solid(10, 10, RED)], columns=4, width=108)
        assert sheet[4:104, 4:104].reshape(-1, 3).min(axis=0).tolist() == [255, 0, 0]

    def test_labels_go_in_a_strip_under_the_cells(self) -> None:
        frames = [solid(50, 100, BLUE), solid(50, 100, BLUE)]
        plain = contact_sheet(frames, columns=2, width=212)
        labelled = contact_sheet(frames, columns=2, width=212, labels=["one", "two"])
        assert labelled.shape[0] > plain.shape[0]
        np.testing.assert_array_equal(labelled[4:54, 4:104], frames[0][:50, :100])
        strip = labelled[54:, 4:104]
        assert (strip.min(axis=2) > 200).any()  # white text
        assert (strip.max(axis=2) < 12).any()  # black outline, darker than the background

    def test_long_and_non_ascii_labels_are_drawn_within_the_cell(self) -> None:
        frames = [solid(20, 40, RED), solid(20, 40, RED)]
        sheet = contact_sheet(frames, columns=2, width=92, labels=["x" * 200, "猫"])
        right_gap = sheet[24:, 44:48]  # between the two cells: no text spills into it
        assert (right_gap == 24).all()

    def test_inputs_are_not_modified(self) -> None:
        frames = [noise(10, 20, seed=1), noise(30, 20, seed=2)]
        copies = [f.copy() for f in frames]
        contact_sheet(frames, columns=1, width=50, labels=["a", "b"])
        for frame, copy in zip(frames, copies):
            np.testing.assert_array_equal(frame, copy)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"images": []}, "at least one image"),
            ({"labels": ["only one"]}, "2 labels"),
            ({"columns": 0}, "columns >= 1"),
            ({"width": 10}, "sheet width of at least"),
            ({"images": [solid(2, 2, RED), np.zeros((2, 2), np.uint8)]}, r"images\[1\]"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"images": [solid(2, 2, RED), solid(2, 2, RED)], **kwargs}
        with pytest.raises(ValueError, match=message):
            contact_sheet(**arguments)  # type: ignore[arg-type]
