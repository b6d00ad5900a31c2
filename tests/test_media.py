"""originchats/media: sniffing, declared-type checks and image re-encoding (prepare_upload,
prepare_emoji), on files made in the test."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio
from PIL import Image

from originchats.media import CompressionSettings, MediaLimits, MediaRefused, prepare_emoji, prepare_upload
from tests import media_samples as s


async def upload(tmp_path: Path, data: bytes, declared: str, name: str = "upload.bin", **kw):
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return await prepare_upload(src, declared, kw.pop("settings", CompressionSettings()), out, **kw)


def opened(prepared) -> Image.Image:
    return Image.open(io.BytesIO(prepared.path.read_bytes()))


@pytest.mark.parametrize(("data", "declared", "served", "inline"), [
    (s.image("PNG"), "image/png", "image/png", True),
    (s.image("JPEG"), "image/jpeg", "image/jpeg", True),
    (s.image("JPEG"), "image/jpg", "image/jpeg", True),
    (s.image("GIF"), "image/gif", "image/gif", True),
    (s.image("WEBP"), "image/webp", "image/webp", True),
    (s.mp4(), "video/mp4", "video/mp4", True),
    (s.webm(), "video/webm", "video/webm", True),
    (s.webm(), "audio/webm", "audio/webm", True),
    (s.mp3(), "audio/mpeg", "audio/mpeg", True),
    (s.wav(), "audio/wav", "audio/wav", True),
    (s.wav(), "audio/x-wav", "audio/wav", True),
    (s.ogg(), "audio/ogg", "audio/ogg", True),
    (s.PDF, "application/pdf", "application/pdf", True),
    # content nobody can vouch for is kept, but only ever served as a download
    (s.SVG, "image/svg+xml", "application/octet-stream", False),
    (s.TEXT, "text/plain", "application/octet-stream", False),
    (s.HTML, "text/html", "application/octet-stream", False),
])
async def test_sniffed_type_is_served_and_only_media_is_inline(tmp_path, data, declared, served, inline):
    prepared = await upload(tmp_path, data, declared)
    assert (prepared.mime_type, prepared.inline) == (served, inline)
    assert prepared.size == prepared.path.stat().st_size


@pytest.mark.parametrize(("data", "declared", "text"), [
    (s.HTML, "image/png", "The file's content is not image/png, as declared"),
    (s.SVG, "image/png", "The file's content is not image/png, as declared"),
    (s.image("PNG"), "application/pdf",
     "The file's content (image/png) does not match its declared type (application/pdf)"),
    (s.image("PNG"), "image/jpeg", "The file's content (image/png) does not match its declared type (image/jpeg)"),
    (s.PDF, "video/mp4", "The file's content (application/pdf) does not match its declared type (video/mp4)"),
    (s.TEXT, "audio/mpeg", "The file's content is not audio/mpeg, as declared"),
])
async def test_declared_type_that_the_bytes_contradict_is_refused(tmp_path, data, declared, text):
    with pytest.raises(MediaRefused) as refused:
        await upload(tmp_path, data, declared)
    assert refused.value.text == text
    assert list((tmp_path / "out").iterdir()) == []


async def test_png_named_pdf_is_refused_whatever_the_file_name(tmp_path):
    with pytest.raises(MediaRefused):
        await upload(tmp_path, s.image("PNG"), "application/pdf", name="report.pdf")


async def test_large_image_is_shrunk_to_the_configured_box_keeping_its_aspect(tmp_path):
    settings = CompressionSettings(max_width=100, max_height=80)
    prepared = await upload(tmp_path, s.image("PNG", size=(400, 200)), "image/png", settings=settings)
    assert (prepared.width, prepared.height) == (100, 50)
    assert opened(prepared).size == (100, 50)
    assert prepared.path != tmp_path / "upload.bin"


async def test_compression_off_keeps_the_size_but_still_reencodes(tmp_path):
    settings = CompressionSettings(enabled=False, max_width=100, max_height=80)
    prepared = await upload(tmp_path, s.jpeg_with_gps(size=(400, 200), orientation=1), "image/jpeg", settings=settings)
    assert (prepared.width, prepared.height) == (400, 200)
    assert b"SpyCam" not in prepared.path.read_bytes()


@pytest.mark.parametrize(("fmt", "mime", "key", "low", "high"), [
    ("JPEG", "image/jpeg", "jpeg_quality", 10, 95),
    ("WEBP", "image/webp", "webp_quality", 10, 95),
    ("PNG", "image/png", "png_compression", 9, 0),
])
async def test_quality_settings_are_applied(tmp_path, fmt, mime, key, low, high):
    noisy = Image.effect_noise((120, 120), 80).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, fmt, **({"quality": 100} if fmt != "PNG" else {}))
    small = await upload(tmp_path, buf.getvalue(), mime, name="a", settings=CompressionSettings(**{key: low}))
    big = await upload(tmp_path, buf.getvalue(), mime, name="b", settings=CompressionSettings(**{key: high}))
    assert small.size < big.size


async def test_gps_exif_and_xmp_are_stripped_and_orientation_applied_first(tmp_path):
    data = s.jpeg_with_gps(size=(40, 20), orientation=6)
    assert b"SpyCam" in data and b"SecretXMP" in data
    prepared = await upload(tmp_path, data, "image/jpeg")
    stored = prepared.path.read_bytes()
    assert b"SpyCam" not in stored and b"SecretXMP" not in stored
    image = opened(prepared)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info and "xmp" not in image.info
    # orientation 6 means "rotate 90°": the stored pixels are upright, 20 wide and 40 high
    assert image.size == (20, 40) == (prepared.width, prepared.height)


async def test_png_exif_is_stripped(tmp_path):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5)}
    exif[0x010F] = "SpyCam"
    prepared = await upload(tmp_path, s.image("PNG", exif=exif.tobytes()), "image/png")
    assert b"SpyCam" not in prepared.path.read_bytes()
    assert dict(opened(prepared).getexif()) == {}


async def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # 10^10 pixels claimed: decoding would need ~30 GB; the header alone gives it away
    with trio.fail_after(5):
        with pytest.raises(MediaRefused) as refused:
            await upload(tmp_path, s.png_bomb(), "image/png")
    assert refused.value.text == f"Image too large (max {MediaLimits().max_pixels} pixels)"


async def test_pixel_cap_is_configurable(tmp_path):
    limits = MediaLimits(max_pixels=100 * 100)
    await upload(tmp_path, s.image("PNG", size=(100, 100)), "image/png", name="a", limits=limits)
    with pytest.raises(MediaRefused) as refused:
        await upload(tmp_path, s.image("PNG", size=(101, 100)), "image/png", name="b", limits=limits)
    assert refused.value.text == "Image too large (max 10000 pixels)"


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
                                           ("WEBP", "image/webp")])
async def test_truncated_image_is_refused_not_stored_raw(tmp_path, fmt, mime):
    data = Image.effect_noise((64, 64), 60).convert("RGB")
    buf = io.BytesIO()
    data.save(buf, fmt)
    with pytest.raises(MediaRefused) as refused:
        await upload(tmp_path, buf.getvalue()[: len(buf.getvalue()) // 2], mime)
    assert refused.value.text == "The file could not be decoded as an image"
    assert list((tmp_path / "out").iterdir()) == []


async def test_image_header_with_garbage_after_it_is_refused(tmp_path):
    with pytest.raises(MediaRefused):
        await upload(tmp_path, b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "image/png")


async def test_animated_gif_keeps_every_frame_duration_and_loop(tmp_path):
    data = s.animated("GIF", frames=5, comment=b"private note")
    assert b"private note" in data
    prepared = await upload(tmp_path, data, "image/gif")
    image = opened(prepared)
    assert image.n_frames == 5
    durations = []
    for index in range(5):
        image.seek(index)
        durations.append(image.info["duration"])
    assert durations == [70, 80, 90, 100, 110]
    assert image.info["loop"] == 0
    assert b"private note" not in prepared.path.read_bytes()


async def test_animated_gif_larger_than_the_box_is_resized_with_its_frames(tmp_path):
    settings = CompressionSettings(max_width=20, max_height=20)
    prepared = await upload(tmp_path, s.animated("GIF", frames=3, size=(80, 40)), "image/gif", settings=settings)
    image = opened(prepared)
    assert (image.n_frames, image.size, prepared.width, prepared.height) == (3, (20, 10), 20, 10)


async def test_animated_webp_keeps_its_frames(tmp_path):
    prepared = await upload(tmp_path, s.animated("WEBP", frames=4), "image/webp")
    image = opened(prepared)
    assert (prepared.mime_type, image.n_frames) == ("image/webp", 4)


async def test_animation_pixel_budget_refuses_clearly(tmp_path):
    limits = MediaLimits(max_animation_pixels=10 * 8 * 3)
    with pytest.raises(MediaRefused) as refused:
        await upload(tmp_path, s.animated("GIF", frames=4), "image/gif", limits=limits)
    assert refused.value.text.startswith("Animated image too large: 4 frames of 10x8 pixels")


async def test_other_decodable_image_types_become_png(tmp_path):
    prepared = await upload(tmp_path, s.image("BMP"), "image/bmp")
    assert (prepared.mime_type, opened(prepared).format, prepared.inline) == ("image/png", "PNG", True)


async def test_prepare_emoji_shrinks_and_checks_the_detected_type(tmp_path):
    data, ext, width, height = await prepare_emoji(s.image("PNG", size=(600, 300)), ["png", "gif"], max_side=128)
    assert (ext, width, height) == ("png", 128, 64)
    assert Image.open(io.BytesIO(data)).size == (128, 64)
    data, ext, _, _ = await prepare_emoji(s.image("JPEG"), [".JPG"])
    assert ext == "jpeg"
    with pytest.raises(MediaRefused) as refused:
        await prepare_emoji(s.image("WEBP"), ["gif", "jpg", "jpeg", "png"])
    assert refused.value.text == "Image type webp is not allowed (allowed: gif, jpeg, jpg, png)"
    with pytest.raises(MediaRefused):
        await prepare_emoji(s.HTML, ["png"])


async def test_prepare_emoji_keeps_animation(tmp_path):
    data, ext, _, _ = await prepare_emoji(s.animated("GIF", frames=6), ["gif"])
    assert (ext, Image.open(io.BytesIO(data)).n_frames) == ("gif", 6)


async def test_image_work_runs_off_the_trio_thread(tmp_path, monkeypatch):
    import threading

    from originchats.media import images
    seen = []
    real = images.encode

    def spy(*args, **kwargs):
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr("originchats.media.prepare.encode", spy)
    await upload(tmp_path, s.image("PNG"), "image/png")
    await prepare_emoji(s.image("PNG"), ["png"])
    assert seen == [False, False]
