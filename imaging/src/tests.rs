//! Tests for the public API. Inputs are made here with the `image` crate or
//! byte by byte (bomb headers, metadata chunks), never read from disk.

use super::*;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{GenericImageView, Rgb, Rgba};

// ------------------------------------------------------------- helpers

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG that claims `w` × `h` RGB pixels but carries a few bytes of data.
fn png_bomb_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    let mut out = PNG_SIGNATURE.to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    // Not a valid zlib stream: decoding it would fail as damaged.
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x01, 0x02, 0x03]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// Chunk types in order, e.g. ["IHDR", "IDAT", "IEND"].
fn png_chunk_types(png: &[u8]) -> Vec<String> {
    assert!(png.starts_with(PNG_SIGNATURE), "not a PNG");
    let mut types = Vec::new();
    let mut i = PNG_SIGNATURE.len();
    while i + 8 <= png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        types.push(String::from_utf8_lossy(&png[i + 4..i + 8]).into_owned());
        i += 12 + len;
    }
    types
}

/// Inserts a chunk right after IHDR (where metadata chunks usually sit).
fn with_chunk_after_ihdr(png: &[u8], chunk: &[u8]) -> Vec<u8> {
    let after_ihdr = PNG_SIGNATURE.len() + 8 + 13 + 4;
    let mut out = png[..after_ihdr].to_vec();
    out.extend_from_slice(chunk);
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// RIFF chunk fourccs of a WebP file, e.g. ["VP8L"].
fn webp_chunk_types(webp: &[u8]) -> Vec<String> {
    assert_eq!(sniff(webp), Some(Format::Webp));
    let mut types = Vec::new();
    let mut i = 12;
    while i + 8 <= webp.len() {
        let len = u32::from_le_bytes(webp[i + 4..i + 8].try_into().unwrap()) as usize;
        types.push(String::from_utf8_lossy(&webp[i..i + 4]).into_owned());
        i += 8 + len + (len & 1);
    }
    types
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A smooth test card with some structure, so resizes and codecs have work.
fn test_card(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            if (x / 8 + y / 8) % 2 == 0 { 40 } else { 200 },
        ])
    })
}

fn png_of(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_with_encoder(PngEncoder::new(&mut out)).unwrap();
    out
}

fn jpeg_of(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn webp_of(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_with_encoder(WebPEncoder::new_lossless(&mut out))
        .unwrap();
    out
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("output decodes")
}

fn render_rgb(prompt: &str, seed: u64, w: u32, h: u32, style: Option<&str>) -> RgbImage {
    let png = render_builtin_png(prompt, seed, w, h, style);
    let img = decode(&png);
    assert_eq!(img.color(), image::ColorType::Rgb8);
    img.into_rgb8()
}

/// Mean absolute difference per channel, 0..=255.
fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// Mean of each channel, 0..=255.
fn channel_means(img: &RgbImage) -> [f64; 3] {
    let mut sum = [0u64; 3];
    for p in img.pixels() {
        for k in 0..3 {
            sum[k] += u64::from(p[k]);
        }
    }
    let n = f64::from(img.width() * img.height());
    sum.map(|s| s as f64 / n)
}

fn mean_luma(img: &RgbImage) -> f64 {
    let [r, g, b] = channel_means(img);
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Mean of (max channel − min channel): how colourful a picture is.
fn mean_chroma(img: &RgbImage) -> f64 {
    let sum: u64 = img
        .pixels()
        .map(|p| u64::from(p.0.iter().max().unwrap() - p.0.iter().min().unwrap()))
        .sum();
    sum as f64 / f64::from(img.width() * img.height())
}

const PROMPTS: [&str; 8] = [
    "a red fox",
    "sunset over the mountains",
    "ocean waves",
    "a quiet forest",
    "starry night",
    "galaxy",
    "abstract thoughts",
    "城市的夜晚",
];

// ------------------------------------------------------------- sniff

#[test]
fn sniff_recognises_real_files() {
    let card = DynamicImage::ImageRgb8(test_card(16, 16));
    assert_eq!(sniff(&png_of(&card)), Some(Format::Png));
    assert_eq!(sniff(&jpeg_of(&test_card(16, 16))), Some(Format::Jpeg));
    assert_eq!(sniff(&webp_of(&card)), Some(Format::Webp));
}

#[test]
fn sniff_uses_magic_numbers_only() {
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Some(Format::Png));
    assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
    assert_eq!(sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 "), Some(Format::Webp));
    assert_eq!(sniff(b"RIFF\xff\xff\xff\xffWEBP"), Some(Format::Webp));
}

#[test]
fn sniff_rejects_everything_else() {
    for bytes in [
        &b""[..],
        b"\x89PNG\r\n\x1a",
        b"\x89PNG",
        &[0xFF, 0xD8],
        b"GIF89a\x01\x00\x01\x00",
        b"BM\x00\x00\x00\x00",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"RIFF\x00\x00\x00\x00WEB",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        b"\x00\x00\x00\x0cjP  \r\n\x87\n",
        b"hello.png",
    ] {
        assert_eq!(sniff(bytes), None, "{bytes:?}");
    }
}

// ------------------------------------------------------------- built-in generator

#[test]
fn builtin_is_deterministic() {
    for (prompt, style) in [
        ("sunset over the mountains", None),
        ("ocean", Some("noir")),
        ("", Some("pastel")),
    ] {
        let a = render_builtin_png(prompt, 42, 160, 120, style);
        let b = render_builtin_png(prompt, 42, 160, 120, style);
        assert!(!a.is_empty());
        assert_eq!(a, b, "{prompt:?} {style:?}");
    }
}

#[test]
fn builtin_honours_sizes_and_clamps() {
    for (w, h) in [(1, 1), (64, 64), (300, 100), (90, 333)] {
        let img = render_rgb("size", 1, w, h, None);
        assert_eq!(img.dimensions(), (w, h));
    }
    // Zero is raised to one; more than 2048 is clamped.
    assert_eq!(render_rgb("size", 1, 0, 0, None).dimensions(), (1, 1));
    assert_eq!(
        render_rgb("size", 1, 1, 100_000, None).dimensions(),
        (1, BUILTIN_MAX_SIDE)
    );
    assert_eq!(
        render_rgb("size", 1, u32::MAX, 1, None).dimensions(),
        (BUILTIN_MAX_SIDE, 1)
    );
}

#[test]
fn builtin_png_has_no_metadata() {
    let png = render_builtin_png("a secret prompt", 7, 64, 48, Some("vivid"));
    assert_eq!(png_chunk_types(&png), ["IHDR", "IDAT", "IEND"]);
    assert!(!contains(&png, b"secret"));
}

#[test]
fn builtin_different_seeds_look_different() {
    for prompt in PROMPTS {
        let a = render_rgb(prompt, 1, 128, 128, None);
        let b = render_rgb(prompt, 2, 128, 128, None);
        let d = mean_abs_diff(&a, &b);
        assert!(d > 12.0, "{prompt:?}: seeds 1 and 2 differ by only {d:.1}");
    }
}

#[test]
fn builtin_different_prompts_look_different() {
    let imgs: Vec<RgbImage> = PROMPTS
        .iter()
        .map(|p| render_rgb(p, 5, 128, 128, None))
        .collect();
    for i in 0..imgs.len() {
        for j in i + 1..imgs.len() {
            let d = mean_abs_diff(&imgs[i], &imgs[j]);
            assert!(d > 12.0, "{:?} vs {:?}: {d:.1}", PROMPTS[i], PROMPTS[j]);
        }
    }
}

#[test]
fn builtin_pictures_are_not_flat() {
    for prompt in PROMPTS {
        for seed in 0..3 {
            let img = render_rgb(prompt, seed, 128, 96, None);
            let mean = mean_luma(&img);
            let var = img
                .pixels()
                .map(|p| {
                    let l = 0.2126 * f64::from(p[0])
                        + 0.7152 * f64::from(p[1])
                        + 0.0722 * f64::from(p[2]);
                    (l - mean) * (l - mean)
                })
                .sum::<f64>()
                / f64::from(128 * 96);
            assert!(
                var.sqrt() > 8.0,
                "{prompt:?}/{seed}: luma sd {:.1}",
                var.sqrt()
            );
            let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(
                colours.len() > 300,
                "{prompt:?}/{seed}: {} colours",
                colours.len()
            );
        }
    }
}

#[test]
fn builtin_unknown_style_is_no_style() {
    let none = render_builtin_png("fox", 3, 96, 64, None);
    assert_eq!(
        render_builtin_png("fox", 3, 96, 64, Some("watercolour")),
        none
    );
    assert_eq!(render_builtin_png("fox", 3, 96, 64, Some("")), none);
    // Names are case- and space-insensitive.
    assert_eq!(
        render_builtin_png("fox", 3, 96, 64, Some(" NOIR ")),
        render_builtin_png("fox", 3, 96, 64, Some("noir"))
    );
}

#[test]
fn builtin_styles_change_the_picture() {
    for prompt in ["sunset over the mountains", "a red fox", "ocean"] {
        let plain = render_rgb(prompt, 9, 128, 96, None);
        let styled: Vec<(&str, RgbImage)> = STYLE_PRESETS
            .iter()
            .map(|s| (*s, render_rgb(prompt, 9, 128, 96, Some(s))))
            .collect();
        for (name, img) in &styled {
            let d = mean_abs_diff(&plain, img);
            assert!(d > 6.0, "{prompt:?}: {name} differs from none by {d:.1}");
        }
        let get = |n: &str| &styled.iter().find(|(s, _)| *s == n).unwrap().1;

        // Noir is black and white.
        assert!(get("noir").pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
        // Mono keeps one hue: far less colourful than the plain or vivid picture.
        assert!(
            mean_chroma(get("mono")) < mean_chroma(&plain) * 0.8,
            "{prompt:?} mono"
        );
        assert!(
            mean_chroma(get("vivid")) > mean_chroma(get("pastel")),
            "{prompt:?} vivid"
        );
        // Pastel is light.
        assert!(
            mean_luma(get("pastel")) > mean_luma(&plain),
            "{prompt:?} pastel"
        );
        let pastel = mean_luma(get("pastel"));
        assert!(pastel > 120.0, "{prompt:?} pastel {pastel:.1}");
    }
}

#[test]
fn builtin_prompt_words_steer_colours() {
    for seed in 0..6 {
        let [r, _, b] = channel_means(&render_rgb("ocean", seed, 96, 64, None));
        assert!(b > r + 15.0, "ocean/{seed}: r {r:.0} b {b:.0}");

        let [r, _, b] = channel_means(&render_rgb("sunset", seed, 96, 64, None));
        assert!(r > b + 15.0, "sunset/{seed}: r {r:.0} b {b:.0}");

        let [r, g, b] = channel_means(&render_rgb("forest", seed, 96, 64, None));
        assert!(g > r && g > b, "forest/{seed}: {r:.0} {g:.0} {b:.0}");

        let night = mean_luma(&render_rgb("night", seed, 96, 64, None));
        let day = mean_luma(&render_rgb("sunny meadow", seed, 96, 64, None));
        assert!(
            night + 40.0 < day,
            "night/{seed}: {night:.0} vs day {day:.0}"
        );
    }
}

#[test]
fn builtin_survives_odd_prompts() {
    let long = "mountain ".repeat(20_000);
    for prompt in ["", " ", "🌅🌊", "\0\u{202e}", long.as_str()] {
        let img = render_rgb(prompt, u64::MAX, 40, 30, Some("mono"));
        assert_eq!(img.dimensions(), (40, 30));
    }
}

// ------------------------------------------------------------- checks

#[test]
fn too_large_is_refused_before_anything_else() {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.resize(Limits::UPLOAD.max_bytes + 1, 0);
    assert_eq!(
        reference_png(&bytes, &Limits::UPLOAD).unwrap_err(),
        ImageError::TooLarge { max_mb: 10 }
    );
    assert_eq!(
        variants(&bytes, &Limits::UPLOAD).unwrap_err(),
        ImageError::TooLarge { max_mb: 10 }
    );
    // Even garbage: size is checked first.
    let garbage = vec![0u8; 2048];
    let tiny = Limits {
        max_bytes: 1024,
        ..Limits::UPLOAD
    };
    assert!(matches!(
        variants(&garbage, &tiny),
        Err(ImageError::TooLarge { .. })
    ));
    // Exactly at the limit is fine.
    let card = png_of(&DynamicImage::ImageRgb8(test_card(8, 8)));
    let exact = Limits {
        max_bytes: card.len(),
        ..Limits::UPLOAD
    };
    assert!(variants(&card, &exact).is_ok());
}

#[test]
fn unsupported_formats_are_refused() {
    for bytes in [
        &b"GIF89a\x01\x00\x01\x00\x00\x00\x00"[..],
        b"BM",
        b"",
        b"not an image at all",
    ] {
        assert_eq!(
            variants(bytes, &Limits::MODEL_OUTPUT).unwrap_err(),
            ImageError::UnsupportedFormat
        );
        assert_eq!(
            reference_png(bytes, &Limits::UPLOAD).unwrap_err(),
            ImageError::UnsupportedFormat
        );
    }
}

#[test]
fn decompression_bomb_header_is_refused_before_decoding() {
    let bomb = png_bomb_header(100_000, 100_000);
    assert_eq!(crc32(b"IEND"), 0xAE42_6082); // the well-known IEND CRC
    assert_eq!(sniff(&bomb), Some(Format::Png));
    // The data is not even valid zlib: TooManyPixels rather than Corrupt
    // shows that the refusal came from the header alone.
    assert_eq!(
        variants(&bomb, &Limits::MODEL_OUTPUT).unwrap_err(),
        ImageError::TooManyPixels {
            max_side: 8192,
            max_megapixels: 64
        }
    );
    assert_eq!(
        reference_png(&bomb, &Limits::UPLOAD).unwrap_err(),
        ImageError::TooManyPixels {
            max_side: 4096,
            max_megapixels: 16
        }
    );
}

/// A lossless WebP that claims `w` × `h` (each below 16384) with junk data.
fn webp_bomb_header(w: u32, h: u32) -> Vec<u8> {
    let bits = (w - 1) | ((h - 1) << 14);
    let mut payload = vec![0x2F];
    payload.extend_from_slice(&bits.to_le_bytes());
    payload.extend_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + 8 + payload.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// A real small JPEG whose frame header (SOF0) is patched to claim `w` × `h`.
fn jpeg_bomb_header(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = jpeg_of(&test_card(16, 16));
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("baseline JPEG has SOF0");
    // Marker, length (2), precision (1), then height and width.
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

#[test]
fn webp_and_jpeg_bomb_headers_are_refused() {
    // (16384 itself is misread as 0 by image-webp 0.2.4; 0 is refused too.)
    let webp = webp_bomb_header(16000, 16000);
    assert_eq!(sniff(&webp), Some(Format::Webp));
    assert!(matches!(
        variants(&webp, &Limits::MODEL_OUTPUT),
        Err(ImageError::TooManyPixels { .. })
    ));
    let webp = webp_bomb_header(8000, 8000);
    assert!(matches!(
        reference_png(&webp, &Limits::UPLOAD),
        Err(ImageError::TooManyPixels { .. })
    ));

    let jpeg = jpeg_bomb_header(65_000, 65_000);
    assert_eq!(sniff(&jpeg), Some(Format::Jpeg));
    assert!(matches!(
        variants(&jpeg, &Limits::MODEL_OUTPUT),
        Err(ImageError::TooManyPixels { .. })
    ));
}

#[test]
fn too_many_pixels_within_side_limit_is_refused() {
    // Each side within 8192, but 8192 × 8000 is over 64 megapixels.
    let bomb = png_bomb_header(8192, 8000);
    assert!(matches!(
        variants(&bomb, &Limits::MODEL_OUTPUT),
        Err(ImageError::TooManyPixels { .. })
    ));
    // Same sizes within the limits get past the header check and then fail
    // to decode: the broken data is reported as damaged.
    let small = png_bomb_header(64, 64);
    assert_eq!(
        variants(&small, &Limits::MODEL_OUTPUT).unwrap_err(),
        ImageError::Corrupt
    );

    // Real images against tight limits, for each format.
    let tight = Limits {
        max_bytes: 1 << 20,
        max_pixels: 100,
        max_side: 50,
    };
    let square = DynamicImage::ImageRgb8(test_card(20, 20)); // 400 px > 100
    let long = DynamicImage::ImageRgb8(test_card(60, 1)); // side 60 > 50
    for img in [&square, &long] {
        for bytes in [png_of(img), jpeg_of(&img.to_rgb8()), webp_of(img)] {
            assert_eq!(
                variants(&bytes, &tight).unwrap_err(),
                ImageError::TooManyPixels {
                    max_side: 50,
                    max_megapixels: 0
                }
            );
        }
    }
}

#[test]
fn damaged_files_are_corrupt() {
    let card = DynamicImage::ImageRgb8(test_card(64, 64));
    let png = png_of(&card);
    let webp = webp_of(&card);
    let jpeg = jpeg_of(&test_card(64, 64));

    // Signatures alone, truncated headers, and truncated data.
    for bytes in [
        PNG_SIGNATURE.to_vec(),
        png[..20].to_vec(),
        png[..png.len() / 2].to_vec(),
        webp[..16].to_vec(),
        webp[..webp.len() / 2].to_vec(),
        jpeg[..3].to_vec(),
        jpeg[..40].to_vec(),
    ] {
        assert_eq!(
            variants(&bytes, &Limits::MODEL_OUTPUT).unwrap_err(),
            ImageError::Corrupt,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(
            reference_png(&bytes, &Limits::UPLOAD).unwrap_err(),
            ImageError::Corrupt
        );
    }

    // A zero-sized image.
    assert_eq!(
        variants(&png_bomb_header(0, 10), &Limits::MODEL_OUTPUT).unwrap_err(),
        ImageError::Corrupt
    );
}

#[test]
fn error_texts_are_readable() {
    assert_eq!(
        ImageError::TooLarge { max_mb: 10 }.to_string(),
        "the file is larger than 10 MB"
    );
    assert_eq!(
        ImageError::TooManyPixels {
            max_side: 4096,
            max_megapixels: 16
        }
        .to_string(),
        "the image is larger than 4096 pixels on a side or 16 megapixels"
    );
}

// ------------------------------------------------------------- variants

#[test]
fn variants_sizes_and_formats() {
    for ((w, h), preview, thumb) in [
        ((3000, 1500), (1024, 512), (256, 128)),
        ((1500, 3000), (512, 1024), (128, 256)),
        ((1024, 1024), (1024, 1024), (256, 256)),
        ((1000, 300), (1000, 300), (256, 77)),
        ((100, 40), (100, 40), (100, 40)), // never upscaled
        ((3000, 2), (1024, 1), (256, 1)),  // never zero
    ] {
        let card = test_card(w, h);
        let v = variants(
            &png_of(&DynamicImage::ImageRgb8(card.clone())),
            &Limits::MODEL_OUTPUT,
        )
        .unwrap();
        assert_eq!((v.width, v.height), (w, h));

        assert_eq!(sniff(&v.original_png), Some(Format::Png));
        let original = decode(&v.original_png);
        assert_eq!(original.color(), image::ColorType::Rgb8);
        assert_eq!(original.to_rgb8(), card, "original keeps every pixel");

        assert_eq!(sniff(&v.preview_webp), Some(Format::Webp));
        assert_eq!(decode(&v.preview_webp).dimensions(), preview, "{w}x{h}");
        assert_eq!(sniff(&v.thumb_webp), Some(Format::Webp));
        assert_eq!(decode(&v.thumb_webp).dimensions(), thumb, "{w}x{h}");
    }
}

#[test]
fn previews_and_thumbnails_are_lossy_and_within_their_budgets() {
    for (prompt, seed, style) in [
        ("sunset over the mountains", 4, None),
        ("a crowded market street at night, neon", 9, Some("vivid")),
        ("portrait of a cat in pastel", 2, Some("pastel")),
    ] {
        let png = render_builtin_png(prompt, seed, 1024, 1024, style);
        let v = variants(&png, &Limits::MODEL_OUTPUT).unwrap();
        assert!(
            v.preview_webp.len() <= PREVIEW_BUDGET,
            "{prompt}: preview {} bytes",
            v.preview_webp.len()
        );
        assert!(
            v.thumb_webp.len() <= THUMB_BUDGET,
            "{prompt}: thumb {} bytes",
            v.thumb_webp.len()
        );
        // Lossy, and still close to the picture.
        let preview = decode(&v.preview_webp).into_rgb8();
        let original = decode(&png).into_rgb8();
        assert_ne!(preview, original);
        assert!(mean_abs_diff(&preview, &original) < 4.0, "{prompt}");
    }
}

#[test]
fn a_noisy_picture_gets_a_lower_quality_not_a_bigger_file() {
    // Film-grain noise over a gradient: the hardest case for a lossy codec.
    let mut state = 0x2545_f491_u32;
    let noisy = RgbImage::from_fn(1024, 1024, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = state % 96;
        Rgb([
            (x / 4 + n).min(255) as u8,
            (y / 4 + n).min(255) as u8,
            (n * 2) as u8,
        ])
    });
    let img = DynamicImage::ImageRgb8(noisy);
    let first = lossy_webp(&img, 80.0).unwrap();
    assert!(first.len() > PREVIEW_BUDGET, "the case needs the ladder");
    let kept = encode_lossy_webp(&img, PREVIEW_BUDGET).unwrap();
    assert!(kept.len() < first.len());
    assert_eq!(decode(&kept).dimensions(), (1024, 1024));
}

#[test]
fn display_variants_remake_what_variants_made() {
    let png = render_builtin_png("lighthouse in a storm", 3, 1536, 1024, Some("noir"));
    let v = variants(&png, &Limits::MODEL_OUTPUT).unwrap();
    let d = display_variants(&v.original_png, &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!(d.preview_webp, v.preview_webp);
    assert_eq!(d.thumb_webp, v.thumb_webp);
    assert_eq!(
        display_variants(b"not an image", &Limits::MODEL_OUTPUT).unwrap_err(),
        ImageError::UnsupportedFormat
    );
}

#[test]
fn variants_preview_looks_like_the_original() {
    // A downscale of a smooth picture stays close to a naive downscale.
    let png = render_builtin_png("sunset over the mountains", 4, 2048, 1024, None);
    let v = variants(&png, &Limits::MODEL_OUTPUT).unwrap();
    let preview = decode(&v.preview_webp).into_rgb8();
    let reference =
        image::imageops::resize(&decode(&png).into_rgb8(), 1024, 512, FilterType::Triangle);
    assert!(mean_abs_diff(&preview, &reference) < 3.0);
    assert_eq!(
        decode(&v.original_png).into_rgb8(),
        decode(&png).into_rgb8()
    );
}

#[test]
fn jpeg_and_webp_inputs_are_accepted() {
    let card = test_card(1200, 600);
    let jpeg = jpeg_of(&card);
    let v = variants(&jpeg, &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!((v.width, v.height), (1200, 600));
    let original = decode(&v.original_png).into_rgb8();
    assert!(
        mean_abs_diff(&original, &card) < 6.0,
        "JPEG decoded faithfully"
    );
    assert_eq!(decode(&v.preview_webp).dimensions(), (1024, 512));
    assert_eq!(decode(&v.thumb_webp).dimensions(), (256, 128));

    let dynamic = DynamicImage::ImageRgb8(card.clone());
    let v = variants(&webp_of(&dynamic), &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!((v.width, v.height), (1200, 600));
    assert_eq!(decode(&v.original_png).into_rgb8(), card, "lossless WebP");
    assert_eq!(decode(&v.preview_webp).dimensions(), (1024, 512));

    let r = reference_png(&jpeg, &Limits::UPLOAD).unwrap();
    assert_eq!(decode(&r).dimensions(), (1024, 512));
}

#[test]
fn transparency_is_kept_and_opaque_alpha_dropped() {
    // Left half: transparent red. Right half: opaque blue.
    let rgba = RgbaImage::from_fn(600, 300, |x, _| {
        if x < 300 {
            Rgba([255, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let v = variants(
        &png_of(&DynamicImage::ImageRgba8(rgba.clone())),
        &Limits::MODEL_OUTPUT,
    )
    .unwrap();
    let original = decode(&v.original_png);
    assert_eq!(original.color(), image::ColorType::Rgba8);
    assert_eq!(original.to_rgba8(), rgba);

    // Resized premultiplied: the invisible red does not bleed into the edge.
    let thumb = decode(&v.thumb_webp).into_rgba8();
    assert_eq!(thumb.dimensions(), (256, 128));
    assert!(thumb.pixels().any(|p| p[3] == 0));
    for p in thumb.pixels().filter(|p| p[3] > 0) {
        assert!(p[0] < 8 && p[2] > 200, "edge pixel {p:?}");
    }

    // Fully opaque RGBA is stored as RGB.
    let opaque = RgbaImage::from_fn(20, 10, |x, y| Rgba([x as u8, y as u8, 7, 255]));
    let v = variants(
        &png_of(&DynamicImage::ImageRgba8(opaque.clone())),
        &Limits::MODEL_OUTPUT,
    )
    .unwrap();
    let original = decode(&v.original_png);
    assert_eq!(original.color(), image::ColorType::Rgb8);
    assert_eq!(
        original.to_rgb8(),
        DynamicImage::ImageRgba8(opaque).to_rgb8()
    );
}

#[test]
fn sixteen_bit_and_grey_inputs_become_rgb8() {
    let grey16 = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(30, 20, |x, _| {
        image::Luma([(x * 2000) as u16])
    });
    let v = variants(
        &png_of(&DynamicImage::ImageLuma16(grey16)),
        &Limits::MODEL_OUTPUT,
    )
    .unwrap();
    let original = decode(&v.original_png);
    assert_eq!(original.color(), image::ColorType::Rgb8);
    let px = original.to_rgb8();
    assert_eq!(px.get_pixel(29, 0), &Rgb([226, 226, 226])); // 58000 / 257
}

// ------------------------------------------------------------- metadata

#[test]
fn png_text_chunks_are_not_carried_over() {
    let card = DynamicImage::ImageRgb8(test_card(300, 200));
    let clean = png_of(&card);
    let text = png_chunk(b"tEXt", b"prompt\0a secret prompt about my neighbour");
    let itxt = png_chunk(b"iTXt", b"parameters\0\0\0\0\0secret seed 1234");
    let dirty = with_chunk_after_ihdr(&with_chunk_after_ihdr(&clean, &text), &itxt);
    assert!(contains(&dirty, b"secret prompt"));
    // The input really carries the text where decoders look for it.
    assert_eq!(
        png_chunk_types(&dirty),
        ["IHDR", "iTXt", "tEXt", "IDAT", "IEND"]
    );

    let v = variants(&dirty, &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!(png_chunk_types(&v.original_png), ["IHDR", "IDAT", "IEND"]);
    assert!(!contains(&v.original_png, b"secret"));
    assert_eq!(decode(&v.original_png).to_rgb8(), card.to_rgb8());
    for webp in [&v.preview_webp, &v.thumb_webp] {
        assert_eq!(webp_chunk_types(webp), ["VP8 "], "lossy, nothing else");
        assert!(!contains(webp, b"secret"));
    }

    let r = reference_png(&dirty, &Limits::UPLOAD).unwrap();
    assert_eq!(png_chunk_types(&r), ["IHDR", "IDAT", "IEND"]);
    assert!(!contains(&r, b"secret"));
}

/// A big-endian TIFF block with an orientation and a description.
fn exif_block(orientation: u16, description: &[u8]) -> Vec<u8> {
    let mut t = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes()); // two entries
                                              // Orientation: SHORT, count 1, value left-aligned.
    t.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    // ImageDescription: ASCII, stored after the IFD.
    let text_offset = 8 + 2 + 2 * 12 + 4;
    t.extend_from_slice(&[0x01, 0x0E, 0x00, 0x02]);
    t.extend_from_slice(&(description.len() as u32 + 1).to_be_bytes());
    t.extend_from_slice(&(text_offset as u32).to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    t.extend_from_slice(description);
    t.push(0);
    t
}

#[test]
fn jpeg_exif_and_icc_are_dropped_and_orientation_applied() {
    // 40 × 20, red on the left half, green on the right.
    let card = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([230, 20, 20])
        } else {
            Rgb([20, 230, 20])
        }
    });
    let mut jpeg = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut jpeg, 95);
    enc.set_exif_metadata(exif_block(6, b"secret gps place"))
        .unwrap();
    enc.set_icc_profile(b"secret icc profile bytes".to_vec())
        .unwrap();
    enc.write_image(card.as_raw(), 40, 20, ExtendedColorType::Rgb8)
        .unwrap();
    assert!(contains(&jpeg, b"secret gps place"));
    assert!(contains(&jpeg, b"secret icc"));

    let v = variants(&jpeg, &Limits::MODEL_OUTPUT).unwrap();
    // Orientation 6 = rotate 90° clockwise: 20 wide, 40 high, red on top.
    assert_eq!((v.width, v.height), (20, 40));
    let original = decode(&v.original_png).into_rgb8();
    assert_eq!(original.dimensions(), (20, 40));
    let top = original.get_pixel(10, 5);
    let bottom = original.get_pixel(10, 35);
    assert!(top[0] > 180 && top[1] < 80, "top {top:?}");
    assert!(bottom[1] > 180 && bottom[0] < 80, "bottom {bottom:?}");

    for out in [&v.original_png, &v.preview_webp, &v.thumb_webp] {
        assert!(!contains(out, b"secret"));
        assert!(!contains(out, b"Exif"));
    }
    assert_eq!(png_chunk_types(&v.original_png), ["IHDR", "IDAT", "IEND"]);
    let r = reference_png(&jpeg, &Limits::UPLOAD).unwrap();
    assert!(!contains(&r, b"secret"));
    assert_eq!(decode(&r).dimensions(), (20, 40));
}

#[test]
fn png_exif_and_icc_chunks_are_dropped() {
    let card = DynamicImage::ImageRgb8(test_card(30, 10));
    let mut png = Vec::new();
    let mut enc = PngEncoder::new(&mut png);
    enc.set_exif_metadata(exif_block(1, b"secret camera serial"))
        .unwrap();
    card.write_with_encoder(enc).unwrap();
    assert!(png_chunk_types(&png).contains(&"eXIf".to_string()));

    let v = variants(&png, &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!(png_chunk_types(&v.original_png), ["IHDR", "IDAT", "IEND"]);
    assert!(!contains(&v.original_png, b"secret"));
    assert_eq!((v.width, v.height), (30, 10));
}

// ------------------------------------------------------------- reference_png

#[test]
fn reference_png_scales_down_only() {
    let big = png_of(&DynamicImage::ImageRgb8(test_card(2000, 1000)));
    let r = reference_png(&big, &Limits::UPLOAD).unwrap();
    assert_eq!(png_chunk_types(&r), ["IHDR", "IDAT", "IEND"]);
    assert_eq!(decode(&r).dimensions(), (1024, 512));

    let card = test_card(300, 200);
    let small = webp_of(&DynamicImage::ImageRgb8(card.clone()));
    let r = reference_png(&small, &Limits::UPLOAD).unwrap();
    assert_eq!(sniff(&r), Some(Format::Png));
    assert_eq!(decode(&r).into_rgb8(), card);
}

#[test]
fn profile_pictures_are_small_square_webp_without_metadata() {
    // A wide JPEG: centre-cropped to a square of 256 px, re-encoded.
    let wide = jpeg_of(&test_card(1600, 900));
    let p = profile_picture_webp(&wide, &Limits::UPLOAD).unwrap();
    assert_eq!(sniff(&p), Some(Format::Webp));
    assert_eq!(decode(&p).dimensions(), (PICTURE_SIDE, PICTURE_SIDE));
    assert!(p.len() <= THUMB_BUDGET, "{} bytes", p.len());
    // A small one is cropped, never enlarged.
    let small = png_of(&DynamicImage::ImageRgb8(test_card(90, 40)));
    let p = profile_picture_webp(&small, &Limits::UPLOAD).unwrap();
    assert_eq!(decode(&p).dimensions(), (40, 40));
    // The same checks as any upload.
    assert_eq!(
        profile_picture_webp(b"GIF89a not accepted", &Limits::UPLOAD).unwrap_err(),
        ImageError::UnsupportedFormat
    );
}

#[test]
fn builtin_output_goes_through_variants() {
    let png = render_builtin_png("ocean waves", 11, 640, 480, Some("vivid"));
    let v = variants(&png, &Limits::MODEL_OUTPUT).unwrap();
    assert_eq!((v.width, v.height), (640, 480));
    assert_eq!(
        decode(&v.original_png).into_rgb8(),
        decode(&png).into_rgb8()
    );
    assert_eq!(decode(&v.thumb_webp).dimensions(), (256, 192));
}

#[test]
fn fit_within_rounds_and_never_upscales() {
    assert_eq!(fit_within(3000, 1500, 1024), (1024, 512));
    assert_eq!(fit_within(1025, 1024, 1024), (1024, 1023));
    assert_eq!(fit_within(1024, 10, 1024), (1024, 10));
    assert_eq!(fit_within(10, 5, 1024), (10, 5));
    assert_eq!(fit_within(100_000, 1, 256), (256, 1));
    assert_eq!(fit_within(u32::MAX, u32::MAX, 256), (256, 256));
}

#[test]
fn reference_png_shrinks_large_images_by_area_without_bleeding() {
    // Left half: transparent red. Right half: opaque blue. 2.3x too large.
    let rgba = RgbaImage::from_fn(2400, 1200, |x, _| {
        if x < 1200 {
            Rgba([255, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let r = reference_png(&png_of(&DynamicImage::ImageRgba8(rgba)), &Limits::UPLOAD).unwrap();
    let out = decode(&r).into_rgba8();
    assert_eq!(out.dimensions(), (1024, 512));
    assert_eq!(out.get_pixel(10, 256)[3], 0);
    assert_eq!(*out.get_pixel(1000, 256), Rgba([0, 0, 255, 255]));
    for x in 500..524 {
        let p = out.get_pixel(x, 256);
        if p[3] > 0 {
            assert!(p[0] < 8 && p[2] > 200, "no red bleeds in: {p:?} at {x}");
        }
    }
    // An opaque JPEG keeps its picture.
    let card = test_card(4000, 2000);
    let r = reference_png(&jpeg_of(&card), &Limits::UPLOAD).unwrap();
    let out = decode(&r).into_rgb8();
    assert_eq!(out.dimensions(), (1024, 512));
    let expected = image::imageops::resize(&card, 1024, 512, FilterType::Triangle);
    assert!(mean_abs_diff(&out, &expected) < 6.0);
}
