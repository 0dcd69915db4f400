//! Image work that needs no network and no database: the built-in generator
//! ("built-in, not AI"), turning any model output into the three stored
//! variants (metadata stripped), and checking user uploads.
//!
//! Why it is careful: every byte decoded here is untrusted (a model provider
//! or a user sent it). The format is sniffed from magic numbers, the size and
//! the header's dimensions are checked before any pixel is decoded, and every
//! output is re-encoded from bare pixels, so prompts or locations hidden in
//! metadata never reach storage.

mod render;

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader};
use image::{RgbImage, RgbaImage};

/// The style presets the built-in generator knows (case-insensitive). Any
/// other name is treated as no preset.
pub const STYLE_PRESETS: [&str; 4] = ["vivid", "pastel", "mono", "noir"];

/// Largest side the built-in generator draws; larger requests are clamped.
pub const BUILTIN_MAX_SIDE: u32 = render::MAX_SIDE;

/// Long side of `Variants::preview_webp` and of `reference_png`, at most.
pub const PREVIEW_SIDE: u32 = 1024;

/// Long side of `Variants::thumb_webp`, at most.
pub const THUMB_SIDE: u32 = 256;

/// Largest preview, in bytes: what a phone on a slow network can show as
/// the largest paint of a page in well under a second.
pub const PREVIEW_BUDGET: usize = 150 * 1024;

/// Largest thumbnail, in bytes: a grid of 24 stays under 600 KiB.
pub const THUMB_BUDGET: usize = 25 * 1024;

/// Lossy WebP qualities tried in turn; the first whose file fits the budget
/// is kept. Nearly every picture fits at the first; only very noisy ones
/// (film grain, dense foliage) need a second or third encode.
const QUALITY_LADDER: [f32; 5] = [80.0, 68.0, 55.0, 40.0, 25.0];

/// Limits for decoding untrusted bytes (model outputs and uploads).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width × height (decompression-bomb guard, checked
    /// from the header before decoding).
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_side: u32,
}

impl Limits {
    /// For model outputs: up to 40 MB, 64 megapixels, 8192 px a side.
    pub const MODEL_OUTPUT: Limits = Limits {
        max_bytes: 40 * 1024 * 1024,
        max_pixels: 64_000_000,
        max_side: 8192,
    };
    /// For reference-image uploads: up to 10 MB, 16 megapixels, 4096 px a side.
    pub const UPLOAD: Limits = Limits {
        max_bytes: 10 * 1024 * 1024,
        max_pixels: 16_000_000,
        max_side: 4096,
    };
}

/// The formats accepted as input, sniffed from the bytes (never from a name
/// or a declared content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Webp,
}

/// Why bytes were not accepted as an image. The texts are safe to show users.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("the file is larger than {max_mb} MB")]
    TooLarge { max_mb: usize },
    #[error("the image is larger than {max_side} pixels on a side or {max_megapixels} megapixels")]
    TooManyPixels { max_side: u32, max_megapixels: u64 },
    #[error("the file is not a PNG, JPEG or WebP image")]
    UnsupportedFormat,
    #[error("the image file is damaged and cannot be read")]
    Corrupt,
}

/// The three files kept per image. All are re-encoded from decoded pixels,
/// so no metadata (EXIF, text chunks, prompts) survives.
#[derive(Debug, Clone)]
pub struct Variants {
    /// Full size, PNG.
    pub original_png: Vec<u8>,
    /// At most 1024 px on the long side, lossy WebP of at most
    /// [`PREVIEW_BUDGET`] bytes.
    pub preview_webp: Vec<u8>,
    /// At most 256 px on the long side, lossy WebP of at most
    /// [`THUMB_BUDGET`] bytes.
    pub thumb_webp: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The two files shown on pages, made again from a stored original by
/// [`display_variants`] (when the encoding of previews changes).
#[derive(Debug, Clone)]
pub struct Display {
    pub preview_webp: Vec<u8>,
    pub thumb_webp: Vec<u8>,
}

/// Which format `bytes` are in, from their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG) {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else {
        None
    }
}

/// The built-in generator: a deterministic picture from the prompt, the seed
/// and the optional style preset, `width` × `height` pixels, PNG-encoded.
/// Same inputs, same bytes; different prompts or seeds look clearly different.
///
/// Sides are clamped to 1..=[`BUILTIN_MAX_SIDE`]. `style` is one of
/// [`STYLE_PRESETS`]; anything else renders exactly as `None`.
pub fn render_builtin_png(
    prompt: &str,
    seed: u64,
    width: u32,
    height: u32,
    style: Option<&str>,
) -> Vec<u8> {
    let (w, h, pixels) = render::render_rgb(prompt, seed, width, height, style);
    // Encoding a well-formed buffer into memory has no failure mode: the
    // writer is a Vec and the length always matches the sides.
    encode_png(&pixels, w, h, ExtendedColorType::Rgb8)
        .expect("PNG encoding of a well-formed in-memory buffer cannot fail")
}

/// Decodes a model output (PNG/JPEG/WebP, within `limits`) and encodes the
/// three stored variants.
///
/// The original is lossless PNG (RGBA only when some pixel is not opaque).
/// The preview and thumbnail are lossy WebP (libwebp) within
/// [`PREVIEW_BUDGET`] and [`THUMB_BUDGET`]; transparency is kept.
/// EXIF orientation is applied to the pixels before metadata is dropped.
pub fn variants(bytes: &[u8], limits: &Limits) -> Result<Variants, ImageError> {
    let img = decode_checked(bytes, limits)?;
    let (width, height) = (img.width(), img.height());
    let original_png = encode_dynamic_png(&img)?;
    let Display {
        preview_webp,
        thumb_webp,
    } = encode_display(&img)?;
    Ok(Variants {
        original_png,
        preview_webp,
        thumb_webp,
        width,
        height,
    })
}

/// The preview and thumbnail of a stored original (or any accepted image),
/// exactly as [`variants`] makes them.
pub fn display_variants(bytes: &[u8], limits: &Limits) -> Result<Display, ImageError> {
    encode_display(&decode_checked(bytes, limits)?)
}

fn encode_display(img: &DynamicImage) -> Result<Display, ImageError> {
    let preview = downscale(img, PREVIEW_SIDE);
    let preview_webp = encode_lossy_webp(&preview, PREVIEW_BUDGET)?;
    // From the preview: same result to the eye, far less work than from a
    // 64-megapixel original.
    let thumb = downscale(&preview, THUMB_SIDE);
    let thumb_webp = encode_lossy_webp(&thumb, THUMB_BUDGET)?;
    Ok(Display {
        preview_webp,
        thumb_webp,
    })
}

/// Checks an uploaded reference image (sniffed format, size and pixel limits
/// before decoding) and re-encodes it as PNG without metadata.
///
/// Images longer than [`PREVIEW_SIDE`] on a side are scaled down to it,
/// with [`shrink`]: uploads are the largest untrusted inputs anyone can send,
/// so their peak memory matters more than the last bit of sharpness.
pub fn reference_png(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, ImageError> {
    let img = decode_checked(bytes, limits)?;
    encode_dynamic_png(&shrink(img, PREVIEW_SIDE))
}

/// Side of a profile picture, in pixels (square).
pub const PICTURE_SIDE: u32 = 256;

/// Checks an uploaded profile picture exactly like a reference image and
/// makes it a square lossy WebP of [`PICTURE_SIDE`] (centre crop, no
/// metadata) within [`THUMB_BUDGET`]. Returns the file.
pub fn profile_picture_webp(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, ImageError> {
    let img = shrink(decode_checked(bytes, limits)?, PREVIEW_SIDE);
    let side = img.width().min(img.height());
    let square = img.crop_imm(
        (img.width() - side) / 2,
        (img.height() - side) / 2,
        side,
        side,
    );
    encode_lossy_webp(&downscale(&square, PICTURE_SIDE), THUMB_BUDGET)
}

// ------------------------------------------------------------- decoding

impl Format {
    fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Png => image::ImageFormat::Png,
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Webp => image::ImageFormat::WebP,
        }
    }
}

impl Limits {
    fn too_large(&self) -> ImageError {
        ImageError::TooLarge {
            max_mb: self.max_bytes / (1024 * 1024),
        }
    }

    fn too_many_pixels(&self) -> ImageError {
        ImageError::TooManyPixels {
            max_side: self.max_side,
            max_megapixels: self.max_pixels / 1_000_000,
        }
    }

    /// The decoder's own limits: the second guard, in case a decoder's idea
    /// of the size differs from the header we checked. 8 bytes a pixel is
    /// the largest these formats decode to (16-bit RGBA).
    fn for_decoder(&self) -> image::Limits {
        let mut l = image::Limits::default();
        l.max_image_width = Some(self.max_side);
        l.max_image_height = Some(self.max_side);
        l.max_alloc = Some(self.max_pixels.saturating_mul(8));
        l
    }

    fn check_dimensions(&self, w: u32, h: u32) -> Result<(), ImageError> {
        if w == 0 || h == 0 {
            return Err(ImageError::Corrupt);
        }
        if w > self.max_side || h > self.max_side || u64::from(w) * u64::from(h) > self.max_pixels {
            return Err(self.too_many_pixels());
        }
        Ok(())
    }
}

fn decode_error(e: image::ImageError, limits: &Limits) -> ImageError {
    match e {
        image::ImageError::Limits(_) => limits.too_many_pixels(),
        _ => ImageError::Corrupt,
    }
}

/// All the checks, in order: byte size, magic numbers, header dimensions
/// (before decoding), then a decode under the decoder's own limits.
fn decode_checked(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, ImageError> {
    if bytes.len() > limits.max_bytes {
        return Err(limits.too_large());
    }
    let format = sniff(bytes)
        .ok_or(ImageError::UnsupportedFormat)?
        .image_format();

    // Header only. The side limits are set here too: the PNG decoder checks
    // them right after IHDR, so a header-only bomb is refused as too large
    // rather than as damaged.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.limits(limits.for_decoder());
    let (w, h) = header
        .into_dimensions()
        .map_err(|e| decode_error(e, limits))?;
    limits.check_dimensions(w, h)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.for_decoder());
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(e, limits))?;
    // What `ImageReader::decode` checks, kept since we call the decoder directly.
    if decoder.total_bytes() > limits.max_pixels.saturating_mul(8) {
        return Err(limits.too_many_pixels());
    }
    // Damaged EXIF must not reject an otherwise good image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, limits))?;
    img.apply_orientation(orientation);
    Ok(flatten(img))
}

/// 8 bits a channel: RGBA when some pixel is not fully opaque, else RGB.
fn flatten(img: DynamicImage) -> DynamicImage {
    if img.color().has_alpha() {
        let rgba = img.into_rgba8();
        if rgba.pixels().any(|p| p[3] != u8::MAX) {
            return DynamicImage::ImageRgba8(rgba);
        }
        return DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8());
    }
    DynamicImage::ImageRgb8(img.into_rgb8())
}

// ------------------------------------------------------------- resizing

/// The size of the stored preview of a `w` x `h` image.
pub fn preview_size(w: u32, h: u32) -> (u32, u32) {
    fit_within(w, h, PREVIEW_SIDE)
}

/// Sides scaled so the long side is at most `max_side`; never larger.
fn fit_within(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side || long == 0 {
        return (w, h);
    }
    let scale = |side: u32| {
        let s = (u64::from(side) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(s).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(w), scale(h))
}

/// Scales an 8-bit RGB or RGBA image down to fit `max_side`, using little
/// memory: it takes the decoded image (freed as soon as the result exists)
/// and, for reductions of 2x or more, averages areas (`thumbnail`), which
/// writes only the output, where a filtered resize first builds a
/// full-width 32-bit float image (65 MB for a 4000 px square). Smaller
/// reductions use [`downscale`].
fn shrink(img: DynamicImage, max_side: u32) -> DynamicImage {
    let (w, h) = fit_within(img.width(), img.height(), max_side);
    if (w, h) == (img.width(), img.height()) {
        return img;
    }
    if img.width() < 2 * w && img.height() < 2 * h {
        return downscale(&img, max_side);
    }
    match img {
        DynamicImage::ImageRgba8(mut rgba) => {
            premultiply(&mut rgba);
            let mut out = image::imageops::thumbnail(&rgba, w, h);
            drop(rgba);
            unpremultiply(&mut out);
            DynamicImage::ImageRgba8(out)
        }
        DynamicImage::ImageRgb8(rgb) => {
            DynamicImage::ImageRgb8(image::imageops::thumbnail(&rgb, w, h))
        }
        other => DynamicImage::ImageRgb8(image::imageops::thumbnail(&other.to_rgb8(), w, h)),
    }
}

/// Colours times alpha, so resizing does not bleed the colour of
/// transparent pixels into the edges.
fn premultiply(img: &mut RgbaImage) {
    for p in img.pixels_mut() {
        let a = u32::from(p[3]);
        for c in &mut p.0[..3] {
            *c = ((u32::from(*c) * a + 127) / 255) as u8;
        }
    }
}

/// The inverse of [`premultiply`]; fully transparent pixels get black.
fn unpremultiply(img: &mut RgbaImage) {
    for p in img.pixels_mut() {
        let a = u32::from(p[3]);
        for c in &mut p.0[..3] {
            *c = (u32::from(*c) * 255 + a / 2)
                .checked_div(a)
                .map_or(0, |v| v.min(255) as u8);
        }
    }
}

/// Scales an 8-bit RGB or RGBA image down to fit `max_side` (Catmull-Rom).
/// RGBA is resized premultiplied, so transparent pixels' colours do not
/// bleed into the edges.
fn downscale(img: &DynamicImage, max_side: u32) -> DynamicImage {
    let (w, h) = fit_within(img.width(), img.height(), max_side);
    if (w, h) == (img.width(), img.height()) {
        return img.clone();
    }
    const FILTER: FilterType = FilterType::CatmullRom;
    match img {
        DynamicImage::ImageRgba8(rgba) => {
            let mut pre: RgbaImage = rgba.clone();
            premultiply(&mut pre);
            let mut out = image::imageops::resize(&pre, w, h, FILTER);
            unpremultiply(&mut out);
            DynamicImage::ImageRgba8(out)
        }
        other => {
            let rgb: RgbImage = match other {
                DynamicImage::ImageRgb8(rgb) => image::imageops::resize(rgb, w, h, FILTER),
                _ => image::imageops::resize(&other.to_rgb8(), w, h, FILTER),
            };
            DynamicImage::ImageRgb8(rgb)
        }
    }
}

// ------------------------------------------------------------- encoding

fn color_of(img: &DynamicImage) -> ExtendedColorType {
    if img.color().has_alpha() {
        ExtendedColorType::Rgba8
    } else {
        ExtendedColorType::Rgb8
    }
}

/// The raw bytes as RGB8 or RGBA8, converting anything else.
fn raw8(img: &DynamicImage) -> std::borrow::Cow<'_, [u8]> {
    match img {
        DynamicImage::ImageRgb8(b) => std::borrow::Cow::Borrowed(b.as_raw().as_slice()),
        DynamicImage::ImageRgba8(b) => std::borrow::Cow::Borrowed(b.as_raw().as_slice()),
        other if other.color().has_alpha() => std::borrow::Cow::Owned(other.to_rgba8().into_raw()),
        other => std::borrow::Cow::Owned(other.to_rgb8().into_raw()),
    }
}

/// PNG with only IHDR, IDAT and IEND: no text, EXIF, ICC or time chunks.
///
/// Fast compression (fdeflate): for a 512 × 512 picture it is about 3 ms
/// against about 100 ms for the balanced level, for files about a third
/// larger. Latency on a small server matters more than those bytes.
fn encode_png(
    pixels: &[u8],
    w: u32,
    h: u32,
    color: ExtendedColorType,
) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
        .write_image(pixels, w, h, color)?;
    Ok(out)
}

fn encode_dynamic_png(img: &DynamicImage) -> Result<Vec<u8>, ImageError> {
    encode_png(&raw8(img), img.width(), img.height(), color_of(img))
        .map_err(|_| ImageError::Corrupt)
}

/// Lossy WebP (libwebp, VP8 with a lossless alpha plane when the image has
/// one), no metadata: the highest quality of [`QUALITY_LADDER`] that fits
/// `budget` bytes, or the lowest if none does.
///
/// Chosen over JPEG by size and encode time at equal SSIM, measured in
/// `cargo bench --bench generation` (docs/benchmarks.md).
pub fn encode_lossy_webp(img: &DynamicImage, budget: usize) -> Result<Vec<u8>, ImageError> {
    let mut smallest = Vec::new();
    for quality in QUALITY_LADDER {
        let out = lossy_webp(img, quality)?;
        if out.len() <= budget {
            return Ok(out);
        }
        smallest = out;
    }
    Ok(smallest)
}

/// One lossy WebP encode at `quality` (0-100), libwebp's defaults otherwise
/// (method 4, compressed alpha).
pub fn lossy_webp(img: &DynamicImage, quality: f32) -> Result<Vec<u8>, ImageError> {
    let pixels = raw8(img);
    let encoder = if img.color().has_alpha() {
        webp::Encoder::from_rgba(&pixels, img.width(), img.height())
    } else {
        webp::Encoder::from_rgb(&pixels, img.width(), img.height())
    };
    encoder
        .encode_simple(false, quality)
        .map(|m| m.to_vec())
        .map_err(|_| ImageError::Corrupt)
}

#[cfg(test)]
mod tests;
